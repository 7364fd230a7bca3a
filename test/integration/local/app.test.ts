import { readdirSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findApiKey, hashApiKey, parseApiKeySet } from '../../../lambda/shared/api-keys';
import { API_KEYS_SECRET, type LocalApp, mergeConfig, startLocalApp } from '../../../local/app';
import { invoke } from '../../../local/lambda-runtime';
import { type RedisServer, startRedisServer } from '../../../local/redis-server';
import type { ScheduledRun } from '../../../local/scheduler';
import { send } from '../../helpers/http-client';
import { portOpen } from '../../helpers/net';
import { randomPrefix } from '../../helpers/redis';

/**
 * startLocalApp as the end-to-end tests and the benchmarks use it: the wiring (secrets, the
 * function environment, the key prefix, the config override), the real handlers behind the
 * gateway, and a stop() that leaves no port or process behind and never touches a Redis it was
 * given beyond its own prefix.
 */

const portOf = (url: string): number => Number(new URL(url).port);

describe('startLocalApp with a given Redis', () => {
  const keyPrefix = randomPrefix();
  let stack: LocalApp;
  let given: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    // A Redis of this file's own, so looking at its keys walks no other test's.
    given = await startRedisServer();
    redis = new Redis(given.url, { lazyConnect: true });
    await redis.connect();
    stack = await startLocalApp({
      port: 0,
      redisUrl: given.url,
      keyPrefix,
      scheduler: false,
      config: { rateLimits: { api: { limit: 7 } } },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    redis?.disconnect();
    await given?.stop();
  });

  it('sets the function environment as the stacks do, with secret ARNs the local Secrets Manager serves', () => {
    expect(process.env.KEY_PREFIX).toBe(keyPrefix);
    expect(stack.keyPrefix).toBe(keyPrefix);
    const databases = JSON.parse(process.env.UPSTASH_DATABASES ?? '{}') as Record<
      string,
      { secretArn: string; mode: string }
    >;
    expect(Object.keys(databases).sort()).toEqual(['cache', 'state']);
    for (const [name, { secretArn, mode }] of Object.entries(databases)) {
      // As the construct writes it: `rest` is the default and left out.
      expect(mode).toBeUndefined();
      expect(secretArn).toMatch(new RegExp(`^arn:aws:secretsmanager:[^:]+:\\d{12}:secret:upstash/${name}-`));
      expect(JSON.parse(stack.secrets.value(secretArn) ?? '{}')).toEqual({
        url: stack.upstashUrl,
        token: stack.tokens[name],
      });
    }
    expect(stack.tokens.cache).not.toBe(stack.tokens.state);
    expect(JSON.parse(process.env.FEATURE_DATABASES ?? '{}')).toMatchObject({
      cache: 'cache',
      queue: 'state',
    });
    expect(process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER).toBe(stack.secretsUrl);
    expect(process.env.API_KEYS_SECRET_ARN).toBe(stack.secrets.arn(API_KEYS_SECRET));
    expect(process.env.APP_CONFIG).toBeDefined();
    for (const name of Object.keys(stack.env)) expect(process.env[name]).toBe(stack.env[name]);
    // The override changed one number and kept the rest of cdk.json's configuration.
    expect(stack.config.rateLimits.api).toMatchObject({ algorithm: 'sliding-window', limit: 7 });
    expect(stack.config.rateLimits.search).toBeDefined();
    expect(stack.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(stack.redisUrl).toBe(given.url);
    expect(stack.tenant).toBe('dev');
  });

  it('keeps only hashes in the API-key secret, and a minted key works at once', async () => {
    const set = parseApiKeySet(stack.secrets.value(API_KEYS_SECRET));
    expect(set.keys).toHaveLength(1);
    const raw = stack.secrets.value(API_KEYS_SECRET) ?? '';
    expect(raw).not.toContain(stack.apiKey);
    expect(findApiKey(set, stack.apiKey)).toMatchObject({ tenant: 'dev', hash: hashApiKey(stack.apiKey) });

    const minted = await stack.mintKey('acme', ['cache:read']);
    expect(minted.id).toMatch(/^k_/);
    expect(stack.secrets.value(API_KEYS_SECRET)).not.toContain(minted.key);
    const read = await send(`${stack.url}/cache/nothing-here`, {
      method: 'GET',
      headers: { 'x-api-key': minted.key },
    });
    expect(read.status).toBe(404);
    const write = await send(`${stack.url}/cache/x`, {
      method: 'PUT',
      headers: { 'x-api-key': minted.key, 'content-type': 'application/json' },
      body: '1',
    });
    expect(write.status).toBe(403);
  });

  it('serves the real handlers through the gateway and its authorizer, under the key prefix', async () => {
    const health = await send(`${stack.url}/health`, { method: 'GET' });
    expect(health.status).toBe(200);
    expect(health.headers['content-type']).toMatch(/application\/json/);

    expect((await send(`${stack.url}/cache/a`, { method: 'GET' })).status).toBe(401);
    const unknownKey = await send(`${stack.url}/cache/a`, {
      method: 'GET',
      headers: { 'x-api-key': 'usk_nope' },
    });
    expect(unknownKey.status).toBe(403);
    expect(unknownKey.json()).toEqual({ message: 'Forbidden' });

    const calls = stack.gateway.authorizerCalls;
    const auth = { 'x-api-key': stack.apiKey, 'content-type': 'application/json' };
    const put = await send(`${stack.url}/cache/hello?ttlMs=60000`, {
      method: 'PUT',
      headers: auth,
      body: '{"hi":1}',
    });
    expect(put.status).toBe(200);
    const got = await send(`${stack.url}/cache/hello`, { method: 'GET', headers: auth });
    expect(got.status).toBe(200);
    expect(got.text).toContain('"hi"');
    // One authorizer run for the key, then the decision cache (auth.cacheTtl).
    expect(stack.gateway.authorizerCalls - calls).toBe(1);

    // cdk.json lists cache first: the cache database is the Redis's db 0.
    await redis.select(0);
    const keys = await redis.keys(`${keyPrefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((k) => k.startsWith(keyPrefix))).toBe(true);

    const missing = await send(`${stack.url}/no/such/route`, { method: 'GET' });
    expect(missing.status).toBe(404);
  });

  it('runs the example event of every function in local/events/ (npm run invoke -- <fn> <file>)', async () => {
    const examples = readdirSync(new URL('../../../local/events/', import.meta.url)).sort();
    expect(examples).toEqual([
      'api.json',
      'authorizer.json',
      'maintenance.json',
      'queue-worker.json',
      'usage-probe.json',
    ]);
    const event = (name: string) =>
      JSON.parse(readFileSync(new URL(`../../../local/events/${name}.json`, import.meta.url), 'utf8'));

    const put = (await invoke('api', stack.handlers.api, event('api'), 10_000)) as {
      statusCode: number;
      body: string;
    };
    expect(put.statusCode).toBe(200);
    expect(JSON.parse(put.body)).toEqual({ key: 'hello', stored: true });
    // Its placeholder key is refused until a copy carries a real one.
    expect(await invoke('authorizer', stack.handlers.authorizer, event('authorizer'), 5_000)).toEqual({
      isAuthorized: false,
    });
    const withKey = { ...event('authorizer'), identitySource: [stack.apiKey] };
    expect(await invoke('authorizer', stack.handlers.authorizer, withKey, 5_000)).toMatchObject({
      isAuthorized: true,
      context: { tenant: 'dev' },
    });
    for (const job of ['queue-worker', 'maintenance'] as const) {
      const handler = job === 'queue-worker' ? stack.handlers.queueWorker : stack.handlers.maintenance;
      expect(await invoke(job, handler, event(job), 60_000)).toMatchObject({
        queue: 'default',
        skipped: false,
      });
    }
    const probed = (await invoke(
      'usage-probe',
      stack.handlers.usageProbe,
      event('usage-probe'),
      10_000,
    )) as Array<{
      ok: boolean;
    }>;
    expect(probed.map((p) => p.ok)).toEqual([true, true]);
  });

  it('stop() closes every port it opened and leaves the given Redis and its data alone', async () => {
    const ports = [portOf(stack.url), portOf(stack.upstashUrl), portOf(stack.secretsUrl)];
    for (const port of ports) expect(await portOpen(port)).toBe(true);
    await stack.stop();
    for (const port of ports) expect(await portOpen(port)).toBe(false);
    await redis.select(0);
    expect(await redis.ping()).toBe('PONG');
    expect((await redis.keys(`${keyPrefix}*`)).length).toBeGreaterThan(0);
    // A second stop is harmless.
    await stack.stop();
  });
});

describe('startLocalApp with its own Redis and the scheduler', () => {
  let stack: LocalApp | undefined;
  afterAll(async () => {
    await stack?.stop();
  });

  it('starts a private redis-server, runs the scheduled handlers, and stop() ends them all', async () => {
    const runs: ScheduledRun[] = [];
    stack = await startLocalApp({
      port: 0,
      keyPrefix: randomPrefix(),
      tenant: 'own',
      onScheduledRun: (run) => runs.push(run),
    });
    expect(stack.redisUrl).not.toBe(inject('redisUrl'));
    expect(stack.tenant).toBe('own');
    const redisPort = portOf(stack.redisUrl);
    expect(await portOpen(redisPort)).toBe(true);
    expect(stack.scheduler?.skipped).toEqual([]);

    // The schedules run every minute and every 15 minutes: run both once now, as a tick would.
    const scheduler = stack.scheduler;
    if (!scheduler) throw new Error('the scheduler should run by default');
    const [worker, maintenance] = await Promise.all([
      scheduler.run({
        job: 'queue-worker',
        expression: 'rate(1 minute)',
        handler: stack.handlers.queueWorker,
      }),
      scheduler.run({
        job: 'maintenance',
        expression: 'rate(15 minutes)',
        handler: stack.handlers.maintenance,
      }),
    ]);
    expect(worker.ok, worker.error).toBe(true);
    expect(maintenance.ok, maintenance.error).toBe(true);
    expect(runs.map((r) => r.job).sort()).toEqual(['maintenance', 'queue-worker']);

    const ports = [portOf(stack.url), portOf(stack.upstashUrl), portOf(stack.secretsUrl), redisPort];
    await stack.stop();
    for (const port of ports) expect(await portOpen(port)).toBe(false);
  });
});

describe('mergeConfig', () => {
  it('merges objects key by key, replaces anything else, and replaces databases whole', () => {
    const base = {
      databases: { cache: { secretName: 'a' }, state: { secretName: 'b' } },
      rateLimits: { api: { limit: 1, window: '1 s' }, search: { limit: 2 } },
      keyPrefix: 'app',
    };
    expect(
      mergeConfig(base, {
        databases: { main: { secretName: 'm' } },
        rateLimits: { api: { limit: 5 } },
        keyPrefix: 'x',
      }),
    ).toEqual({
      databases: { main: { secretName: 'm' } },
      rateLimits: { api: { limit: 5, window: '1 s' }, search: { limit: 2 } },
      keyPrefix: 'x',
    });
    expect(base.rateLimits.api.limit).toBe(1);
  });
});
