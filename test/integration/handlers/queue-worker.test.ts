import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type * as QueueWorkerModule from '../../../lambda/handlers/queue-worker';
import { CacheService } from '../../../lambda/services/cache/cache-service';
import { GLOBAL, LockService } from '../../../lambda/services/lock';
import { INVALIDATE_PREFIX, JobQueue, JobRegistry } from '../../../lambda/services/queue';
import { KeyBuilder } from '../../../lambda/shared/keys';
import { lambdaContext, schedulerEvent } from '../../helpers/lambda';
import { logLines } from '../../helpers/logs';
import { type CapturedOutput, captureOutput, leakedSecrets } from '../../helpers/output';
import { randomPrefix, sharedEndpoint, sharedRedis } from '../../helpers/redis';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('queue-worker handler', () => {
  const redis = sharedRedis();
  const { url, token } = sharedEndpoint();
  let keys: KeyBuilder;
  let queue: JobQueue;
  let cache: CacheService;
  let output: CapturedOutput;
  let handler: typeof QueueWorkerModule.handler;
  let createQueueWorkerHandler: typeof QueueWorkerModule.createQueueWorkerHandler;

  beforeAll(() => {
    // Local mode: one database from the standard variables, as runtime.ts reads them.
    delete process.env.UPSTASH_DATABASES;
    delete process.env.FEATURE_DATABASES;
    delete process.env.APP_CONFIG;
    process.env.UPSTASH_REDIS_REST_URL = url;
    process.env.UPSTASH_REDIS_REST_TOKEN = token;
  });

  beforeEach(async () => {
    // A fresh prefix per test is a fresh deployment, and a fresh module graph a cold start.
    const prefix = randomPrefix();
    process.env.KEY_PREFIX = prefix;
    vi.resetModules();
    ({ handler, createQueueWorkerHandler } = await import('../../../lambda/handlers/queue-worker'));
    keys = new KeyBuilder(prefix);
    queue = new JobQueue({ redis, keys });
    cache = new CacheService({ redis, keys });
    output = captureOutput();
  });
  afterEach(() => {
    output.restore();
  });

  const linesOf = (message: string) => logLines(output, message);

  /** Services over the shared Redis with a registry of the test's own. */
  const injected = (registry: JobRegistry) =>
    createQueueWorkerHandler(async () => ({
      queueFor: (name) => new JobQueue({ redis, keys, name }),
      locks: new LockService({ redis, keys }),
      registry,
    }));

  it('drains built-in jobs as Lambda invokes it, dead-letters unknown types, and logs the counts without secrets', async () => {
    // Prepare: values written through the cache, as the api function writes them.
    await cache.mset('acme', [
      { key: 'user:1', value: 'v' },
      { key: 'user:2', value: 'v' },
      { key: 'page:1', value: 'v' },
    ]);
    await queue.enqueue({
      tenant: 'acme',
      type: INVALIDATE_PREFIX,
      payload: { prefix: 'user:' },
      priority: 'high',
    });
    await queue.enqueue({
      tenant: 'acme',
      type: INVALIDATE_PREFIX,
      payload: { prefix: 'nothing:' },
      priority: 'low',
    });
    const unknown = await queue.enqueue({ tenant: 'acme', type: 'no.such-type' });

    // Act
    const result = await handler(schedulerEvent('queue-worker'), lambdaContext({ remainingMs: 60_000 }));

    // Assess
    expect(result).toEqual({
      queue: 'default',
      skipped: false,
      processed: 3,
      succeeded: 2,
      failed: 0,
      deadLettered: 1,
      leaseLost: 0,
      stoppedBecause: 'empty',
    });
    expect(await cache.mget('acme', ['user:1', 'user:2', 'page:1'])).toEqual([
      null,
      null,
      { value: 'v', backend: 'upstash' },
    ]);
    expect(await queue.status('acme', unknown.id)).toMatchObject({
      state: 'dead',
      lastError: expect.stringContaining('no handler registered'),
    });
    const line = output
      .text()
      .split('\n')
      .find((l) => l.includes('queue drained'));
    expect(JSON.parse(line ?? '{}')).toMatchObject({
      level: 'INFO',
      processed: 3,
      succeeded: 2,
      deadLettered: 1,
    });
    expect(leakedSecrets([token], output.text())).toEqual([]);
  });

  it('has a handler for every job type the api function lets a tenant enqueue, and for migration.copy', async () => {
    const { queueWorkerServices } = await import('../../../lambda/handlers/queue-worker');
    const { BUILTIN_JOB_TYPES } = await import('../../../lambda/services/queue/job-types');
    const { registry } = await queueWorkerServices();
    expect(registry.types().sort()).toEqual(
      BUILTIN_JOB_TYPES.list()
        .map((t) => t.type)
        .sort(),
    );
  });

  it('refuses to start when an app job type has no handler (the api would accept jobs nobody runs)', async () => {
    const { checkAppJobs } = await import('../../../lambda/handlers/queue-worker');
    const { defineJobType } = await import('../../../lambda/services/queue/job-types');
    const orphan = defineJobType({ type: 'app.orphan', scope: 'jobs', summary: 'x', payload: (p) => p });
    const registry = new JobRegistry();
    expect(() => checkAppJobs(registry, [orphan])).toThrow(/job types without a handler: app\.orphan/);
    registry.register(orphan, async () => undefined);
    expect(() => checkAppJobs(registry, [orphan])).not.toThrow();
  });

  it('skips when another invocation is draining the same queue', async () => {
    await queue.enqueue({ tenant: 'acme', type: INVALIDATE_PREFIX, payload: { prefix: 'x' } });
    const held = await new LockService({ redis, keys }).acquire(GLOBAL, 'queue-drain:default');
    expect(held).not.toBeNull();

    const result = await handler(schedulerEvent('queue-worker'), lambdaContext());

    expect(result).toMatchObject({ skipped: true, processed: 0, stoppedBecause: 'lock-held' });
    expect((await queue.stats()).ready.normal).toBe(1);
  });

  it('runs jobs in priority order and retries a failing one with backoff', async () => {
    const seen: unknown[] = [];
    const registry = new JobRegistry()
      .register('record', async (job) => {
        seen.push(job.payload);
      })
      .register('flaky', async () => {
        throw new Error('downstream timeout');
      });
    await queue.enqueue({ tenant: 'acme', type: 'record', payload: 'low', priority: 'low' });
    await queue.enqueue({ tenant: 'acme', type: 'record', payload: 'normal' });
    await queue.enqueue({ tenant: 'acme', type: 'record', payload: 'high', priority: 'high' });
    const flaky = await queue.enqueue({ tenant: 'acme', type: 'flaky', priority: 'low' });

    const result = await injected(registry)(
      schedulerEvent('queue-worker', { concurrency: 1 }),
      lambdaContext(),
    );

    expect(seen).toEqual(['high', 'normal', 'low']);
    expect(result).toMatchObject({
      processed: 4,
      succeeded: 3,
      failed: 1,
      deadLettered: 0,
      stoppedBecause: 'empty',
    });
    expect(await queue.status('acme', flaky.id)).toMatchObject({
      state: 'delayed',
      attempts: 1,
      lastError: 'Error: downstream timeout',
    });
  });

  it('stops taking jobs a safety margin before the deadline, leaving the rest ready', async () => {
    const registry = new JobRegistry().register('slow', () => sleep(1_000));
    await Promise.all(Array.from({ length: 20 }, () => queue.enqueue({ tenant: 'acme', type: 'slow' })));
    const startedAt = Date.now();

    // 6 s left and a 3 s margin: jobs start only in the first 3 s, so at most 4 of 1 s fit, one
    // at a time (fewer on a loaded machine); the last ends 2 s before the deadline at the latest.
    const result = await injected(registry)(
      schedulerEvent('queue-worker', { concurrency: 1, safetyMarginMs: 3_000 }),
      lambdaContext({ remainingMs: 6_000 }),
    );

    expect(result.stoppedBecause).toBe('deadline');
    expect(result.processed).toBeGreaterThanOrEqual(1);
    expect(result.processed).toBeLessThanOrEqual(4);
    expect(result.succeeded).toBe(result.processed);
    // Returned before the invocation's end, with the rest still queued.
    expect(Date.now() - startedAt).toBeLessThan(6_000);
    expect((await queue.stats()).ready.normal).toBe(20 - result.processed);
  });

  it('rejects a malformed schedule input, and logs it', async () => {
    await expect(
      handler(schedulerEvent('queue-worker', { concurrency: 0 }), lambdaContext()),
    ).rejects.toThrow(/concurrency/);
    expect(linesOf('queue drain failed')).toEqual([
      expect.objectContaining({ level: 'ERROR', code: 'VALIDATION_ERROR' }),
    ]);
  });

  it('logs each failed job, WARN when retried and ERROR when dead-lettered, never its payload', async () => {
    const registry = new JobRegistry().register('flaky', async () => {
      throw new Error('downstream timeout');
    });
    const flaky = await queue.enqueue({
      tenant: 'acme',
      type: 'flaky',
      payload: { card: 'payload-value-1' },
    });
    const unknown = await queue.enqueue({ tenant: 'acme', type: 'no.such-type', payload: 'payload-value-2' });

    await injected(registry)(schedulerEvent('queue-worker'), lambdaContext());

    const failed = linesOf('job failed');
    expect(failed).toHaveLength(2);
    expect(failed.find((l) => l.jobId === flaky.id)).toMatchObject({
      level: 'WARN',
      type: 'flaky',
      tenant: 'acme',
      outcome: 'retry',
      attempts: 1,
      code: 'INTERNAL_ERROR',
      error: { message: 'downstream timeout' },
    });
    expect(failed.find((l) => l.jobId === unknown.id)).toMatchObject({
      level: 'ERROR',
      outcome: 'dead',
      code: 'VALIDATION_ERROR',
    });
    expect(output.text()).not.toContain('payload-value');
  });

  it('logs a drain that cannot reach Upstash at WARN and throws, so Scheduler retries it', async () => {
    process.env.UPSTASH_REDIS_REST_URL = 'http://127.0.0.1:1';
    try {
      vi.resetModules();
      const cold = await import('../../../lambda/handlers/queue-worker');
      await expect(cold.handler(schedulerEvent('queue-worker'), lambdaContext())).rejects.toMatchObject({
        code: 'UPSTASH_UNAVAILABLE',
      });
    } finally {
      process.env.UPSTASH_REDIS_REST_URL = url;
    }
    expect(linesOf('queue drain failed')).toEqual([
      expect.objectContaining({ level: 'WARN', code: 'UPSTASH_UNAVAILABLE' }),
    ]);
    expect(leakedSecrets([token], output.text())).toEqual([]);
  });
});
