import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type * as MaintenanceModule from '../../../lambda/handlers/maintenance';
import { GLOBAL, LockService } from '../../../lambda/services/lock';
import { JobQueue } from '../../../lambda/services/queue';
import { KeyBuilder } from '../../../lambda/shared/keys';
import { lambdaContext, schedulerEvent } from '../../helpers/lambda';
import { logLines } from '../../helpers/logs';
import { type CapturedOutput, captureOutput, leakedSecrets } from '../../helpers/output';
import { randomPrefix, sharedEndpoint, sharedRedis } from '../../helpers/redis';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The CloudWatch EMF documents among the printed lines. */
const emfDocuments = (text: string) =>
  text
    .split('\n')
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown> & { _aws: { CloudWatchMetrics: unknown[] } });

describe('maintenance handler', () => {
  const redis = sharedRedis();
  const { url, token } = sharedEndpoint();
  let keys: KeyBuilder;
  let queue: JobQueue;
  let output: CapturedOutput;
  let handler: typeof MaintenanceModule.handler;

  beforeAll(() => {
    delete process.env.UPSTASH_DATABASES;
    delete process.env.FEATURE_DATABASES;
    delete process.env.APP_CONFIG;
    process.env.UPSTASH_REDIS_REST_URL = url;
    process.env.UPSTASH_REDIS_REST_TOKEN = token;
    process.env.POWERTOOLS_METRICS_NAMESPACE = 'TestNamespace';
  });

  beforeEach(async () => {
    const prefix = randomPrefix();
    process.env.KEY_PREFIX = prefix;
    vi.resetModules();
    ({ handler } = await import('../../../lambda/handlers/maintenance'));
    keys = new KeyBuilder(prefix);
    queue = new JobQueue({ redis, keys });
    output = captureOutput();
  });
  afterEach(() => output.restore());

  it('requeues expired leases, dead-letters spent ones, promotes due jobs and publishes EMF metrics', async () => {
    // Prepare: one job whose worker died with attempts left, one on its last attempt, one due
    // delayed job, one live lease and one high job waiting.
    const stalled = await queue.enqueue({ tenant: 'acme', type: 't', maxAttempts: 2 });
    const spent = await queue.enqueue({ tenant: 'acme', type: 't', maxAttempts: 1 });
    await queue.dequeue({ leaseMs: 20 });
    await queue.dequeue({ leaseMs: 20 });
    const live = await queue.enqueue({ tenant: 'acme', type: 't' });
    await queue.dequeue({ leaseMs: 60_000 });
    const due = await queue.enqueue({ tenant: 'acme', type: 't', delayMs: 10, priority: 'low' });
    await queue.enqueue({ tenant: 'acme', type: 't', priority: 'high', delayMs: 60_000 });
    await queue.enqueue({ tenant: 'acme', type: 't', priority: 'high' });
    await sleep(30);

    // Act
    const result = await handler(schedulerEvent('maintenance'), lambdaContext());

    // Assess
    expect(result).toMatchObject({
      queue: 'default',
      skipped: false,
      requeued: 1,
      deadLettered: 1,
      promoted: 1,
      pruned: { done: 0, dead: 0 },
      sessionIndexesPruned: 'unavailable',
      stats: { ready: { high: 1, normal: 1, low: 1 }, delayed: 1, inFlight: 1, deadLetters: 1, done: 0 },
    });
    expect(await queue.status('acme', stalled.id)).toMatchObject({ state: 'ready', attempts: 1 });
    expect(await queue.status('acme', spent.id)).toMatchObject({ state: 'dead', attempts: 1 });
    expect(await queue.status('acme', live.id)).toMatchObject({ state: 'inflight' });
    expect(await queue.status('acme', due.id)).toMatchObject({ state: 'ready' });

    const docs = emfDocuments(output.text());
    const values = (name: string) =>
      docs.filter((d) => name in d).map((d) => ({ value: d[name], priority: d.priority }));
    expect(values('QueueDepth')).toEqual(
      expect.arrayContaining([
        { value: 1, priority: 'high' },
        { value: 1, priority: 'normal' },
        { value: 1, priority: 'low' },
        { value: 3, priority: undefined },
      ]),
    );
    expect(values('InFlight')).toEqual([{ value: 1, priority: undefined }]);
    expect(values('DeadLetters')).toEqual([{ value: 1, priority: undefined }]);
    expect(docs.every((d) => JSON.stringify(d._aws).includes('TestNamespace'))).toBe(true);
    expect(leakedSecrets([token], output.text())).toEqual([]);
  });

  it('skips while another run holds the maintenance lock', async () => {
    await queue.enqueue({ tenant: 'acme', type: 't' });
    await queue.dequeue({ leaseMs: 1 });
    await sleep(5);
    await new LockService({ redis, keys }).acquire(GLOBAL, 'maintenance:default');

    const result = await handler(schedulerEvent('maintenance'), lambdaContext());

    expect(result).toEqual({ queue: 'default', skipped: true });
    expect((await queue.stats()).inFlight).toBe(1);
    // No queue figures from a run that did nothing; only what its lock attempt cost.
    const names = emfDocuments(output.text()).flatMap((d) =>
      (d._aws.CloudWatchMetrics as Array<{ Metrics: Array<{ Name: string }> }>).flatMap((m) =>
        m.Metrics.map((x) => x.Name),
      ),
    );
    expect(names.filter((n) => !n.startsWith('Upstash'))).toEqual([]);
    expect(names).toContain('UpstashBilledCommands');
  });

  it('logs a run that cannot reach Upstash at WARN and throws', async () => {
    process.env.UPSTASH_REDIS_REST_URL = 'http://127.0.0.1:1';
    try {
      vi.resetModules();
      const cold = await import('../../../lambda/handlers/maintenance');
      await expect(cold.handler(schedulerEvent('maintenance'), lambdaContext())).rejects.toMatchObject({
        code: 'UPSTASH_UNAVAILABLE',
      });
    } finally {
      process.env.UPSTASH_REDIS_REST_URL = url;
    }
    expect(logLines(output, 'maintenance failed')).toEqual([
      expect.objectContaining({ level: 'WARN', code: 'UPSTASH_UNAVAILABLE' }),
    ]);
    expect(leakedSecrets([token], output.text())).toEqual([]);
  });
});
