import type { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { JobQueue } from '../../../../lambda/services/queue';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import type { RedisServer } from '../../../../local/redis-server';
import { lambdaContext, schedulerEvent } from '../../../helpers/lambda';
import { type MigratingDatabase, migratingDatabase } from '../../../helpers/migration';
import { captureOutput } from '../../../helpers/output';
import { randomPrefix, sharedRedis } from '../../../helpers/redis';
import { terminalScreen } from '../../../helpers/terminal';

/**
 * The copy as a queue job and as the CLI, wired as deployed: a database in shadow migration,
 * its old Redis from the source credentials, the target its plain Upstash client.
 */
describe('migration copy job and CLI', () => {
  let db: MigratingDatabase;
  let old: RedisServer;
  let oldRaw: IORedis;
  const prefix = randomPrefix();
  const upstash = sharedRedis();
  const keys = new KeyBuilder(prefix);

  beforeAll(async () => {
    db = await migratingDatabase('shadow', {
      KEY_PREFIX: prefix,
      LOCAL_STACK_FILE: '/nonexistent/stack.json',
      POWERTOOLS_METRICS_NAMESPACE: 'MigrationTest',
      POWERTOOLS_LOG_LEVEL: 'WARN',
    });
    ({ old, oldRaw } = db);
    for (let i = 0; i < 1_200; i++) await oldRaw.set(`${prefix}:cache:acme:v:k${i}`, `v${i}`);
    await oldRaw.hset(`${prefix}:session:acme:s:1`, { a: '1' });
    vi.resetModules();
    await (await import('../../../../lambda/shared/runtime')).resetRuntimeForTests();
  });
  afterAll(async () => {
    await (await import('../../../../lambda/shared/runtime')).resetRuntimeForTests();
    await db.stop();
  });

  it('runs as a job: a slice cut short enqueues the next one, which finishes from the checkpoint', async () => {
    const { queueWorkerServices } = await import('../../../../lambda/handlers/queue-worker');
    const services = await queueWorkerServices();
    const handler = services.registry.get('migration.copy');
    expect(handler).toBeDefined();
    const queue = services.queueFor('default');
    const job = {
      id: 'job-1',
      tenant: 'ops',
      type: 'migration.copy',
      payload: { database: 'main', batch: 200 },
      priority: 'normal' as const,
      attempts: 1,
      maxAttempts: 3,
      createdAt: Date.now(),
      lease: 'l',
      leaseUntil: Date.now() + 60_000,
    };
    const stopped = new AbortController();
    stopped.abort(); // the invocation's time is up before the first batch
    await handler?.(job, { signal: stopped.signal });
    const next = await queue.dequeue({ leaseMs: 60_000 });
    expect(next).toMatchObject({ type: 'migration.copy', payload: { database: 'main', batch: 200 } });
    expect(await upstash.get(`${prefix}:cache:acme:v:k0`)).toBeNull();

    await handler?.(next as never, { signal: new AbortController().signal });
    expect(await upstash.get(`${prefix}:cache:acme:v:k0`)).toBe('v0');
    expect(await upstash.get(`${prefix}:cache:acme:v:k1199`)).toBe('v1199');
    expect(await queue.dequeue({ leaseMs: 60_000 })).toBeNull(); // done: no further slice
  });

  it('reports where the copy stands after each slice: counts, rate and ETA, no keys', async () => {
    const { registerCopyJob } = await import('../../../../lambda/services/migration/copy-job');
    const { JobRegistry } = await import('../../../../lambda/services/queue');
    const { migrationSourceUrl, upstashForDatabase } = await import('../../../../lambda/shared/runtime');
    const reports: Array<Record<string, unknown>> = [];
    const queue = new JobQueue({ redis: upstash, keys, name: `slices-${randomPrefix()}` });
    const registry = registerCopyJob(new JobRegistry(), {
      keys,
      target: upstashForDatabase,
      sourceUrl: migrationSourceUrl,
      queue: () => queue,
      onSlice: (report) => reports.push({ ...report }),
    });
    const job = {
      id: 'job-slices',
      tenant: 'ops',
      type: 'migration.copy',
      payload: { database: 'main', match: `${prefix}:cache:acme:v:k1*`, batch: 50 },
      priority: 'normal' as const,
      attempts: 1,
      maxAttempts: 3,
      createdAt: Date.now(),
      lease: 'l',
      leaseUntil: Date.now() + 60_000,
    };
    const stopped = new AbortController();
    stopped.abort();
    await registry.get('migration.copy')?.(job, { signal: stopped.signal });
    await registry.get('migration.copy')?.(job, { signal: new AbortController().signal });
    expect(reports).toHaveLength(2);
    expect(reports[0]).toMatchObject({ database: 'main', jobId: 'job-slices', done: false, copied: 0 });
    // k1, k10-k19, k100-k199, k1000-k1199: 311 keys.
    expect(reports[1]).toMatchObject({ done: true, copied: 311, etaSeconds: 0 });
    // A slice does not walk the keyspace to count a pattern's keys: the total is unknown, not DBSIZE.
    expect(reports[1]?.total).toBeNull();
    expect(JSON.stringify(reports)).not.toContain(prefix);
  });

  it('runs from the queue worker handler like any job', async () => {
    const { handler } = await import('../../../../lambda/handlers/queue-worker');
    const extra = `${prefix}:cache:acme:v:late`;
    await oldRaw.set(extra, 'late');
    // Through the runtime's client: in shadow the old Redis is the queue's source of truth.
    const { redisFor } = await import('../../../../lambda/shared/runtime');
    const queue = new JobQueue({ redis: await redisFor('queue'), keys, name: 'default' });
    await queue.enqueue({
      tenant: 'ops',
      type: 'migration.copy',
      payload: { database: 'main', match: extra },
    });
    const output = captureOutput();
    try {
      const result = await handler(schedulerEvent('queue-worker'), lambdaContext({ remainingMs: 30_000 }));
      expect(result).toMatchObject({ processed: 1, failed: 0 });
    } finally {
      output.restore();
    }
    expect(await upstash.get(extra)).toBe('late');
  });

  it('copies, verifies and reports status from the CLI without printing the source password', async () => {
    const { main } = await import('../../../../local/migrate-cli');
    const args = ['--from', old.url, '--to', 'main', '--match', `${prefix}:session:*`];
    /** One CLI run: its exit code, its results (stdout, parsed) and its messages (stderr). */
    const run = async (command: string, signal?: AbortSignal) => {
      const lines: string[] = [];
      const errors: string[] = [];
      const code = await main(
        [command, ...args],
        (l) => lines.push(l),
        (t) => errors.push(t),
        signal,
      );
      return { code, result: JSON.parse(lines.join('\n')), messages: errors.join('') };
    };
    // Interrupted (Ctrl-C) before its first batch: nothing copied, and it says how to resume.
    const interrupted = new AbortController();
    interrupted.abort();
    const stopped = await run('copy', interrupted.signal);
    expect(stopped.code).toBe(0);
    expect(stopped.result).toMatchObject({ done: false, copied: 0 });
    expect(stopped.messages).toContain('resumes from the checkpoint');

    const copied = await run('copy');
    expect(copied.code).toBe(0);
    expect(copied.result).toMatchObject({ done: true, copied: 1, byType: { hash: 1 } });
    expect(copied.messages).toMatch(/100% 1 of ~1 keys copied/);

    const verified = await run('verify');
    expect(verified.code).toBe(0);
    expect(verified.result).toMatchObject({ checked: 1, equal: 1 });

    const status = await run('status');
    expect(status.code).toBe(0);
    expect(status.result).toMatchObject({ done: true, copied: 1 });
    expect(status.messages).toMatch(/100% 1 of ~1 keys copied, .* keys\/s, done/);
    // What it prints of a source URL keeps neither user nor password.
    const { safeUrl } = await import('../../../../local/migrate-cli');
    expect(safeUrl('rediss://admin:s3cret-pass@old.example:6380/2')).toBe('rediss://old.example:6380/2');
  });

  it('copies into the database the environment names, even while a local stack runs', async () => {
    const { main } = await import('../../../../local/migrate-cli');
    const { writeStackFile } = await import('../../../../local/stack-file');
    const { resetRuntimeForTests } = await import('../../../../lambda/shared/runtime');
    // A running stack (this process) whose environment knows no database "main".
    const stackFile = `${inject('scratchRoot')}/migrate-${prefix}.json`;
    writeStackFile(
      {
        pid: process.pid,
        url: 'x',
        upstashUrl: 'x',
        secretsUrl: 'x',
        env: { UPSTASH_DATABASES: '{"other":{}}' },
      },
      stackFile,
    );
    const before = process.env.LOCAL_STACK_FILE;
    process.env.LOCAL_STACK_FILE = stackFile;
    await resetRuntimeForTests(); // the CLI reads the environment afresh, as a new process would
    try {
      const lines: string[] = [];
      const code = await main(
        ['status', '--from', old.url, '--to', 'main', '--match', `${prefix}:none:*`],
        (l) => lines.push(l),
        () => {},
      );
      expect(code).toBe(0);
      expect(lines.join('\n')).toContain('has started');
      expect(process.env.UPSTASH_DATABASES).not.toContain('other');
    } finally {
      process.env.LOCAL_STACK_FILE = before;
      await resetRuntimeForTests();
    }
  });

  it("draws the CLI's bar over the matching keys only, and a terminal shows the final line whole", async () => {
    const { main } = await import('../../../../local/migrate-cli');
    // k2, k20-k29, k200-k299: 111 of the old Redis's 1,201 keys, in batches of 20.
    const args = ['copy', '--from', old.url, '--to', 'main', '--match', `${prefix}:cache:acme:v:k2*`];
    let text = '';
    const code = await main(
      [...args, '--batch', '20'],
      () => {},
      (t) => {
        text += t;
      },
      undefined,
      { interactive: true, columns: 200 },
    );
    expect(code).toBe(0);
    const lines = terminalScreen(text).filter((line) => line !== '');
    expect(lines[0]).toMatch(/^copying .* to database "main" \(environment of database "main"\)$/);
    expect(lines.slice(1)).toHaveLength(1); // one line, rewritten in place
    expect(lines[1]).toMatch(/^\[#{24}\] 100% 111 of ~111 keys copied, [\d,]+ keys\/s, done$/);
    expect(text.match(/\r/g)?.length).toBeGreaterThan(1);
  });
});
