import type { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type LocalApp, startLocalApp } from '../../../local/app';
import { localContext } from '../../../local/lambda-runtime';
import { scheduledEvent } from '../../../local/scheduler';
import { send } from '../../helpers/http-client';
import {
  alarmMetrics,
  emittedMetrics,
  type MetricIdentity,
  metricKey,
  type ReadMetric,
  widgetMetrics,
} from '../../helpers/metrics-contract';
import { startStalledServer } from '../../helpers/net';
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

/**
 * The templates checked: cdk.json's (pay-as-you-go plans, a budget), and one with a free plan and
 * a soft daily cap, whose daily-commands alarms cdk.json's plans do not have. Same database names,
 * so one run of the handlers serves both.
 */
const CONFIGS: Record<string, unknown> = {
  'cdk.json': TWO_DATABASES,
  'free plan, daily cap': {
    ...TWO_DATABASES,
    databases: {
      cache: { secretName: 'upstash/cache', plan: 'free' },
      state: { secretName: 'upstash/state', plan: { preset: 'pay-as-you-go', dailyCommands: 1_000_000 } },
    },
  },
};

describe('metrics contract: what the handlers emit is what the alarms and the dashboard read', () => {
  let stack: LocalApp;
  const templates = new Map<string, Template>();
  let emitted: MetricIdentity[];
  let emittedKeys: Set<string>;

  beforeAll(async () => {
    for (const [name, config] of Object.entries(CONFIGS)) {
      templates.set(name, synthesize(config).templates.monitoring);
    }
    stack = await startLocalApp({
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

  const template = (name: string): Template => templates.get(name) as Template;

  it.each(Object.keys(CONFIGS))(
    'every alarm (%s) reads a metric the handlers emit with exactly its namespace, name and dimensions',
    (name) => {
      const read = alarmMetrics(template(name));
      expect(read.length).toBeGreaterThan(0);
      expect(unmatched(read)).toEqual([]);
    },
  );

  it.each(Object.keys(CONFIGS))(
    'every dashboard widget (%s) reads metrics the handlers emit with exactly their dimensions',
    (name) => {
      const read = widgetMetrics(template(name));
      expect(read.length).toBeGreaterThan(0);
      expect(unmatched(read)).toEqual([]);
    },
  );

  it('has the plan and budget alarms in the templates under test', () => {
    const ids = (name: string) => Object.keys(template(name).findResources('AWS::CloudWatch::Alarm'));
    expect(ids('cdk.json').filter((id) => /^(Budget|Memory|DeadLetterJobs)/.test(id))).toHaveLength(4);
    expect(ids('free plan, daily cap').filter((id) => id.startsWith('DailyCommands'))).toHaveLength(2);
  });

  it('reads AWS metrics only by the dimensions of the resources the app defines', () => {
    for (const name of Object.keys(CONFIGS)) {
      const aws = [...alarmMetrics(template(name)), ...widgetMetrics(template(name))].filter((m) =>
        m.namespace.startsWith('AWS/'),
      );
      const expected: Record<string, string> = {
        'AWS/Lambda': 'FunctionName',
        'AWS/ApiGateway': 'ApiId',
        'AWS/SQS': 'QueueName',
      };
      for (const metric of aws) {
        const where = `${metric.reader}: ${metricKey(metric)}`;
        const dimension = expected[metric.namespace];
        expect(dimension, where).toBeDefined();
        expect(Object.keys(metric.dimensions), where).toEqual([dimension]);
        // A reference to a resource of the app (Ref / GetAtt / ImportValue), never a typed-in name.
        expect(typeof metric.dimensions[dimension as string], where).toBe('object');
      }
    }
  });

  it('lists the emitted metrics that nothing reads', () => {
    const read = new Set(
      [...templates.values()].flatMap((t) => [...alarmMetrics(t), ...widgetMetrics(t)]).map(metricKey),
    );
    const unread = emitted
      .map(metricKey)
      .filter((key) => !read.has(key))
      .sort();
    console.info(`emitted but read by no alarm or widget:\n  ${unread.join('\n  ')}`);
    // Kept in the logs and EMF for queries, not charted: per-priority depth, requeues, the other
    // functions' Upstash latency. A new metric nothing reads shows up here as a diff.
    expect(unread.map((key) => key.replace(/^\S+ /, ''))).toEqual([
      'JobsRequeued {queue=default, service=maintenance}',
      'QueueDepth {priority=high, queue=default, service=maintenance}',
      'QueueDepth {priority=low, queue=default, service=maintenance}',
      'QueueDepth {priority=normal, queue=default, service=maintenance}',
      'UpstashBilledCommands {database=cache, service=api}',
      'UpstashBilledCommands {database=cache, service=queue-worker}',
      'UpstashBilledCommands {database=cache, service=usage-probe}',
      'UpstashBilledCommands {database=state, service=api}',
      'UpstashBilledCommands {database=state, service=maintenance}',
      'UpstashBilledCommands {database=state, service=queue-worker}',
      'UpstashBilledCommands {database=state, service=usage-probe}',
      'UpstashLatency {database=cache, service=queue-worker}',
      'UpstashLatency {database=cache, service=usage-probe}',
      'UpstashLatency {database=state, service=maintenance}',
      'UpstashLatency {database=state, service=queue-worker}',
      'UpstashLatency {database=state, service=usage-probe}',
    ]);
  });
});

/**
 * Traffic that makes every handler publish what it publishes: cache hits and misses, a refused
 * request (429), the queue worker's drains (one dead-letters a job) and the maintenance run.
 */
async function representativeTraffic(stack: LocalApp): Promise<void> {
  const as = (apiKey: string) => async (method: string, path: string, body?: unknown) =>
    send(`${stack.url}${path}`, {
      method,
      headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const call = as(stack.apiKey);
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
  // A prefix invalidation (the worker's built-in job touches the cache database) and a session
  // revocation (the state database): both succeed in the first drain below.
  expect((await call('POST', '/cache/invalidate', { prefix: 'h' })).status).toBe(202);
  const revoke = { type: 'sessions.revoke-user', payload: { userId: 'u1' } };
  expect((await call('POST', '/jobs', revoke)).status).toBe(202);
  const statuses: number[] = [];
  for (let i = 0; i < LIMIT; i++) statuses.push((await call('GET', '/stats')).status);
  expect(statuses).toContain(429);

  const worker = (await stack.handlers.queueWorker(
    scheduledEvent('queue-worker'),
    localContext('queue-worker', 60_000),
  )) as { deadLettered: number; succeeded: number };
  expect(worker).toMatchObject({ deadLettered: 0, succeeded: 2 });
  const maintenance = (await stack.handlers.maintenance(
    scheduledEvent('maintenance'),
    localContext('maintenance', 60_000),
  )) as { skipped: boolean };
  expect(maintenance.skipped).toBe(false);
  const probe = (await stack.handlers.usageProbe(
    scheduledEvent('usage-probe'),
    localContext('usage-probe', 60_000),
  )) as Array<{ ok: boolean; usedMemoryBytes?: number }>;
  expect(probe.map((p) => p.ok && p.usedMemoryBytes !== undefined)).toEqual([true, true]);

  // An outage of the cache database (its secret now names a closed port, read at a cold start):
  // the api serves cache reads from its in-container fallback once the circuit opens.
  const closed = await startStalledServer();
  await closed.close();
  const secret = stack.config.databases.cache?.secretName as string;
  const saved = stack.secrets.value(secret) as string;
  stack.secrets.put(secret, JSON.stringify({ url: closed.url, token: stack.tokens.cache }));
  const coldStart = async () => {
    (await import('../../../lambda/handlers/api')).resetApiForTests();
    (await import('../../../lambda/handlers/queue-worker')).resetQueueWorkerForTests();
    await (await import('../../../lambda/shared/runtime')).resetRuntimeForTests();
  };
  await coldStart();
  // Another tenant: the first one used up its rate limit above. A miss served by the fallback
  // is a 404 like any miss; /health tells which backend served it.
  const other = as((await stack.mintKey('globex')).key);
  // Three failed round trips in a row open the cache's circuit (lambda/shared/circuit-breaker.ts).
  for (let i = 0; i < 3; i++) expect((await other('GET', '/cache/hot')).status).toBe(404);
  const health = await send(`${stack.url}/health`, { method: 'GET' });
  expect(health.json<{ cacheBackend?: string }>().cacheBackend).toBe('fallback');
  // A job that dead-letters: an invalidation with one attempt, run while its database is down.
  const doomed = { type: 'cache.invalidate-prefix', payload: { prefix: 'x' }, maxAttempts: 1 };
  expect((await other('POST', '/jobs', doomed)).status).toBe(202);
  const failedDrain = (await stack.handlers.queueWorker(
    scheduledEvent('queue-worker'),
    localContext('queue-worker', 60_000),
  )) as { deadLettered: number };
  expect(failedDrain).toMatchObject({ deadLettered: 1 });
  stack.secrets.put(secret, saved);
  await coldStart();
}
