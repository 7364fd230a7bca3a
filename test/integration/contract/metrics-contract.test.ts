import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { localContext } from '../../../local/lambda-runtime';
import { scheduledEvent } from '../../../local/scheduler';
import { type LocalStack, startLocalStack } from '../../../local/stack';
import { send } from '../../helpers/http-client';
import {
  alarmMetrics,
  emittedMetrics,
  type MetricIdentity,
  metricKey,
  type ReadMetric,
  widgetMetrics,
} from '../../helpers/metrics-contract';
import { type CapturedOutput, captureOutput } from '../../helpers/output';
import { randomPrefix } from '../../helpers/redis';
import { synthesize, TWO_DATABASES } from '../../infra/helpers';

/**
 * The metrics contract, both sides together: the real handlers (api, authorizer, queue-worker,
 * maintenance) run on representative events against the local stack, their printed EMF is
 * collected, and every alarm and dashboard widget of the synthesized monitoring stack must read a
 * metric that was emitted with exactly its namespace, name and dimension set. A metric the alarm
 * reads under other dimensions than the handler publishes is a different metric in CloudWatch:
 * the alarm would never see data.
 */

const LIMIT = 12;

describe('metrics contract: what the handlers emit is what the alarms and the dashboard read', () => {
  let stack: LocalStack;
  let template: Template;
  let emitted: MetricIdentity[];
  let emittedKeys: Set<string>;

  beforeAll(async () => {
    template = synthesize(TWO_DATABASES).templates.monitoring;
    stack = await startLocalStack({
      port: 0,
      redisUrl: inject('redisUrl'),
      keyPrefix: randomPrefix(),
      scheduler: false,
      tenant: 'acme',
      config: { rateLimits: { api: { algorithm: 'sliding-window', limit: LIMIT, window: '1 h' } } },
    });
    let output: CapturedOutput | undefined;
    try {
      output = captureOutput();
      await representativeTraffic(stack);
    } finally {
      output?.restore();
    }
    emitted = emittedMetrics(output?.text() ?? '');
    emittedKeys = new Set(emitted.map(metricKey));
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
  });

  /** Read metrics of our namespace that no handler emitted, as `reader: metric`. */
  const unmatched = (read: ReadMetric[]): string[] =>
    read
      .filter((m) => !m.namespace.startsWith('AWS/'))
      .filter((m) => !emittedKeys.has(metricKey(m)))
      .map((m) => `${m.reader}: ${metricKey(m)}`);

  it('the handlers emitted EMF in the configured namespace', () => {
    expect(emitted.length).toBeGreaterThan(0);
    expect(new Set(emitted.map((m) => m.namespace))).toEqual(new Set([stack.config.metricsNamespace]));
  });

  it('every alarm reads a metric the handlers emit with exactly its namespace, name and dimensions', () => {
    const read = alarmMetrics(template);
    expect(read.length).toBeGreaterThan(0);
    expect(unmatched(read)).toEqual([]);
  });

  it('every dashboard widget reads metrics the handlers emit with exactly their dimensions', () => {
    const read = widgetMetrics(template);
    expect(read.length).toBeGreaterThan(0);
    expect(unmatched(read)).toEqual([]);
  });

  it('reads AWS metrics only by the dimensions of the resources the app defines', () => {
    const aws = [...alarmMetrics(template), ...widgetMetrics(template)].filter((m) =>
      m.namespace.startsWith('AWS/'),
    );
    const expected: Record<string, string> = {
      'AWS/Lambda': 'FunctionName',
      'AWS/ApiGateway': 'ApiId',
      'AWS/SQS': 'QueueName',
    };
    for (const metric of aws) {
      const dimension = expected[metric.namespace];
      expect(dimension, `${metric.reader}: ${metricKey(metric)}`).toBeDefined();
      expect(Object.keys(metric.dimensions), `${metric.reader}: ${metricKey(metric)}`).toEqual([dimension]);
      // A reference to a resource of the app (Ref / GetAtt / ImportValue), never a typed-in name.
      expect(typeof metric.dimensions[dimension as string], `${metric.reader}: ${metricKey(metric)}`).toBe(
        'object',
      );
    }
  });

  it('lists the emitted metrics that nothing reads', () => {
    const read = new Set([...alarmMetrics(template), ...widgetMetrics(template)].map(metricKey));
    const unread = emitted
      .map(metricKey)
      .filter((key) => !read.has(key))
      .sort();
    console.info(`emitted but read by no alarm or widget:\n  ${unread.join('\n  ')}`);
    expect(unread.length).toBeLessThan(emitted.length);
  });
});

/**
 * Traffic that makes every handler publish what it publishes: cache hits and misses, a refused
 * request (429), a job that dead-letters, the queue worker's drain and the maintenance run.
 */
async function representativeTraffic(stack: LocalStack): Promise<void> {
  const headers = { 'x-api-key': stack.apiKey, 'content-type': 'application/json' };
  const call = async (method: string, path: string, body?: unknown) =>
    send(`${stack.url}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  // The authorizer: a key it knows (the dev key, above) and one it does not.
  expect((await send(`${stack.url}/stats`, { method: 'GET', headers: { 'x-api-key': 'nope' } })).status).toBe(
    403,
  );
  expect((await call('PUT', '/cache/hot', { v: 1 })).status).toBe(200);
  expect((await call('GET', '/cache/hot')).status).toBe(200);
  expect((await call('GET', '/cache/cold')).status).toBe(404);
  const session = await call('POST', '/sessions', { userId: 'u1', data: { a: 1 } });
  expect(session.status).toBe(201);
  expect((await call('GET', `/sessions/${session.json<{ id: string }>().id}`)).status).toBe(200);
  // A job type nothing handles: the worker dead-letters it at once.
  const job = await call('POST', '/jobs', { type: 'contract.unknown', maxAttempts: 1 });
  expect(job.status).toBe(202);
  const statuses: number[] = [];
  for (let i = 0; i < LIMIT; i++) statuses.push((await call('GET', '/stats')).status);
  expect(statuses).toContain(429);

  const worker = (await stack.handlers.queueWorker(
    scheduledEvent('queue-worker'),
    localContext('queue-worker', 60_000),
  )) as { deadLettered: number };
  expect(worker.deadLettered).toBeGreaterThanOrEqual(1);
  const maintenance = (await stack.handlers.maintenance(
    scheduledEvent('maintenance'),
    localContext('maintenance', 60_000),
  )) as { skipped: boolean };
  expect(maintenance.skipped).toBe(false);
}
