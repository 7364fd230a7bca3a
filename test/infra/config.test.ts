import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { RuntimeConfigSchema } from '../../lambda/shared/config';
import {
  ConfigError,
  configFromContext,
  databasesOf,
  parseConfig,
  parseDuration,
  runtimeConfig,
} from '../../lib/config';
import { PLAN_PRESETS } from '../../lib/plans';
import { SINGLE_DATABASE, scratchDir, THREE_DATABASES, TWO_DATABASES } from './helpers';

/** The default configuration with one path replaced (or removed with `undefined`). */
function withValue(path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(TWO_DATABASES) as Record<string, unknown>;
  const keys = path.split('.');
  let node = copy;
  for (const key of keys.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Record<string, unknown>;
  }
  const last = keys.at(-1) as string;
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

describe('plans and budget', () => {
  it('takes a preset by name, or a preset with figures of its own', () => {
    const config = parseConfig({
      ...SINGLE_DATABASE,
      databases: {
        main: {
          plan: {
            preset: 'free',
            dailyCommands: 5000,
            maxDataSize: '1.5 GB',
            monthlyBandwidth: '20 GB',
            pricePer100kCommands: 0.1,
            monthlyFeeUsd: 2,
          },
        },
      },
      budget: { monthlyUsd: 12.5 },
    });
    expect(config.databases.main?.plan).toEqual({
      preset: 'free',
      dailyCommands: 5000,
      maxDataBytes: Math.round(1.5 * 1024 ** 3),
      monthlyBandwidthBytes: 20 * 1024 ** 3,
      pricePer100kCommands: 0.1,
      monthlyFeeUsd: 2,
    });
    expect(config.budget).toEqual({ monthlyUsd: 12.5 });
    expect(parseConfig({ databases: { main: { plan: 'free' } } }).databases.main?.plan).toEqual(
      PLAN_PRESETS.free,
    );
  });

  it("carries Upstash's published plans as defaults", () => {
    // Upstash pricing page, read 2026-11-09: free 500K commands a month, 256 MB, 10 GB bandwidth;
    // pay as you go $0.20 per 100K commands, up to 100 GB, 200 GB bandwidth free.
    expect(PLAN_PRESETS.free).toMatchObject({ dailyCommands: 16_666, maxDataBytes: 256 * 1024 ** 2 });
    expect(PLAN_PRESETS['pay-as-you-go']).toMatchObject({
      pricePer100kCommands: 0.2,
      maxDataBytes: 100 * 1024 ** 3,
      monthlyBandwidthBytes: 200 * 1024 ** 3,
    });
    expect(PLAN_PRESETS['pay-as-you-go'].dailyCommands).toBeUndefined();
  });

  it('refuses a budget with more databases than an alarm can read', () => {
    const databases = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`db${i}`, {}]));
    const features = { cache: 'db0', sessions: 'db0', rateLimit: 'db0', locks: 'db0', queue: 'db0' };
    expect(() => parseConfig({ databases, features, budget: { monthlyUsd: 10 } })).toThrow(
      /budget works with at most 10 databases .*got 11/,
    );
    expect(parseConfig({ databases, features }).budget).toBeUndefined();
  });
});

describe('parseDuration', () => {
  it.each([
    ['60 s', 60_000],
    ['5 m', 300_000],
    ['1 h', 3_600_000],
    ['24 h', 86_400_000],
    ['250 ms', 250],
    ['15 minutes', 900_000],
    ['7 d', 604_800_000],
    // A whole number is milliseconds already: the form the defaults table uses.
    [60_000, 60_000],
  ])('parses %j to %i ms', (text, ms) => {
    expect(parseDuration(text, 'x')).toBe(ms);
  });

  it.each([['60'], ['5 weeks'], ['-1 s'], ['1.5 h'], ['0 s'], [0], [1.5], [-60]])(
    'fails on %j naming the path and the value',
    (bad) => {
      expect(() => parseDuration(bad, 'cache.defaultTtl')).toThrow(ConfigError);
      expect(() => parseDuration(bad, 'cache.defaultTtl')).toThrow(
        new RegExp(`cache\\.defaultTtl .*${JSON.stringify(bad).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
      );
    },
  );
});

describe('parseConfig', () => {
  it('reads the two-database configuration of cdk.json, durations in ms', () => {
    const config = parseConfig(TWO_DATABASES);

    expect(Object.keys(config.databases)).toEqual(['cache', 'state']);
    expect(config.features).toEqual({
      cache: 'cache',
      sessions: 'state',
      rateLimit: 'state',
      locks: 'state',
      queue: 'state',
    });
    expect(config.rateLimits.api).toEqual({
      algorithm: 'sliding-window',
      limit: 100,
      windowMs: 60_000,
      refillRate: 100,
      outage: 'local',
    });
    expect(config.sessions).toEqual({ idleTtlMs: 3_600_000, absoluteTtlMs: 86_400_000, maxPerUser: 20 });
    expect(config.cache).toEqual({
      defaultTtlMs: 300_000,
      maxValueBytes: 102_400,
      fallback: true,
      localWrites: false,
      namespaces: [],
    });
    expect(config.idempotency).toEqual({ ttlMs: 86_400_000 });
    expect(config.schedules).toEqual({
      queueWorker: 'rate(1 minute)',
      maintenance: 'rate(15 minutes)',
      usageProbe: 'rate(15 minutes)',
    });
    expect(config.databases.cache?.plan).toEqual(PLAN_PRESETS['pay-as-you-go']);
    expect(config.budget).toEqual({ monthlyUsd: 50 });
    expect(config.auth).toEqual({
      type: 'api-key',
      secretName: 'upstash/api-keys',
      revocationDelayMs: 300_000,
      cacheTtlMs: 240_000,
      keySetMaxAgeMs: 60_000,
    });
    expect(config.keyPrefix).toBe('app');
  });

  it.each([
    ['1 s', undefined, 0, 1_000],
    ['10 s', undefined, 8_000, 2_000],
    ['90 s', undefined, 72_000, 18_000],
    ['5 m', undefined, 240_000, 60_000],
    ['1 h', undefined, 3_540_000, 60_000],
    ['5 m', '5 m', 300_000, 0],
    ['2 m', '30 s', 30_000, 90_000],
  ])(
    'splits auth.revocationDelay %s (cacheTtl %s) into a gateway TTL and a key-set age that add up to it',
    (revocationDelay, cacheTtl, gatewayMs, keySetMs) => {
      const auth = parseConfig({
        ...SINGLE_DATABASE,
        auth: { type: 'api-key', revocationDelay, ...(cacheTtl ? { cacheTtl } : {}) },
      }).auth;
      expect(auth).toMatchObject({ cacheTtlMs: gatewayMs, keySetMaxAgeMs: keySetMs });
      if (auth.type !== 'api-key') throw new Error('api-key expected');
      expect(auth.cacheTtlMs + auth.keySetMaxAgeMs).toBe(auth.revocationDelayMs);
      expect(auth.cacheTtlMs % 1_000).toBe(0);
    },
  );

  it('puts every feature on the only database and defaults everything else', () => {
    const config = parseConfig(SINGLE_DATABASE);

    expect(config.features).toEqual({
      cache: 'main',
      sessions: 'main',
      rateLimit: 'main',
      locks: 'main',
      queue: 'main',
    });
    expect(config.databases.main).toEqual({
      secretName: 'upstash/main',
      mode: 'rest',
      plan: PLAN_PRESETS['pay-as-you-go'],
    });
    expect(config.budget).toBeUndefined();
    expect(config.keyPrefix).toBe('app');
    expect(config.metricsNamespace).toBe('UpstashState');
    expect(config.logRetentionDays).toBe(30);
    expect(config.alarmEmail).toBeUndefined();
    expect(config.rateLimits.api?.windowMs).toBe(60_000);
  });

  it('defaults the API body limit to 1 MiB and CORS to off, and rejects a bad origin', () => {
    const config = parseConfig(SINGLE_DATABASE);
    expect(config.api.maxBodyBytes).toBe(1_048_576);
    expect(config.api.corsAllowOrigins).toEqual([]);
    expect(
      parseConfig({ ...SINGLE_DATABASE, api: { corsAllowOrigins: ['https://app.example.com'] } }).api
        .corsAllowOrigins,
    ).toEqual(['https://app.example.com']);
    expect(() =>
      parseConfig({ ...SINGLE_DATABASE, api: { corsAllowOrigins: ['app.example.com/x'] } }),
    ).toThrow(/api\.corsAllowOrigins must be a list of origins .*"app\.example\.com\/x"/);
  });

  it('accepts the JSON string that `cdk -c upstash=...` passes', () => {
    expect(parseConfig(JSON.stringify(SINGLE_DATABASE)).features.queue).toBe('main');
  });

  it('reads the configuration from the app context', () => {
    const app = new App({ context: { upstash: SINGLE_DATABASE } });

    expect(configFromContext(app.node).features.cache).toBe('main');
  });

  it('fails without the context key, saying where it goes', () => {
    expect(() => configFromContext(new App().node)).toThrow(
      /upstash is missing: add it to the "context" of cdk\.json/,
    );
  });

  it.each<[string, string, unknown, RegExp]>([
    [
      'an unknown database',
      'features.sessions',
      'stat',
      /features\.sessions refers to unknown database "stat" \(known: cache, state\)/,
    ],
    [
      'a missing feature with two databases',
      'features.queue',
      undefined,
      /features\.queue is required with 2 databases \(known: cache, state\)/,
    ],
    ['no database', 'databases', {}, /databases must name at least one database, got \{\}/],
    [
      'a bad database name',
      'databases.Cache!',
      { secretName: 'x' },
      /databases\.Cache! has a bad name "Cache!"/,
    ],
    [
      'a bad duration',
      'sessions.idleTtl',
      '1 hour-ish',
      /sessions\.idleTtl must be a duration .*got "1 hour-ish"/,
    ],
    [
      'an idle TTL above the absolute TTL',
      'sessions.idleTtl',
      '48 h',
      /sessions\.idleTtl must not exceed sessions\.absoluteTtl, got "48 h" > "24 h"/,
    ],
    [
      'an unknown algorithm',
      'rateLimits.api.algorithm',
      'leaky-bucket',
      /rateLimits\.api\.algorithm must be one of fixed-window, sliding-window, token-bucket, got "leaky-bucket"/,
    ],
    [
      'a zero limit',
      'rateLimits.api.limit',
      0,
      /rateLimits\.api\.limit must be a positive whole number, got 0/,
    ],
    [
      'a refill rate on a window',
      'rateLimits.api.refillRate',
      5,
      /rateLimits\.api\.refillRate applies to token-bucket only, got it on "sliding-window"/,
    ],
    [
      'an unknown outage policy',
      'rateLimits.api.outage',
      'maybe',
      /rateLimits\.api\.outage must be one of open, closed, local, got "maybe"/,
    ],
    [
      'a cron-less schedule',
      'schedules.queueWorker',
      'every minute',
      /schedules\.queueWorker must be a Scheduler expression .*got "every minute"/,
    ],
    [
      'a plural rate of one',
      'schedules.maintenance',
      'rate(1 minutes)',
      /schedules\.maintenance .*got "rate\(1 minutes\)"/,
    ],
    ['an unknown auth type', 'auth.type', 'basic', /auth\.type must be one of api-key, jwt, got "basic"/],
    [
      'a JWT issuer over http',
      'auth',
      { type: 'jwt', issuer: 'http://id.example.com', audience: 'a' },
      /auth\.issuer must be an https URL .*got "http:\/\/id\.example\.com"/,
    ],
    [
      'a JWT without audience',
      'auth',
      { type: 'jwt', issuer: 'https://id.example.com' },
      /auth\.audience is required/,
    ],
    [
      'an authorizer cache longer than the revocation delay',
      'auth.cacheTtl',
      '10 m',
      /auth\.cacheTtl must be at most auth\.revocationDelay \("5 m"\).*got "10 m"/,
    ],
    [
      'an authorizer cache in fractions of a second',
      'auth.cacheTtl',
      '1500 ms',
      /auth\.cacheTtl must be whole seconds, got "1500 ms"/,
    ],
    [
      'a revocation delay above one hour',
      'auth.revocationDelay',
      '2 h',
      /auth\.revocationDelay must be from "1 s" to "1 h", got "2 h"/,
    ],
    [
      'an unknown plan',
      'databases.cache.plan',
      'pro',
      /databases\.cache\.plan must be one of free, pay-as-you-go, fixed-250mb, got "pro"/,
    ],
    [
      'a data size without a unit',
      'databases.cache.plan',
      { maxDataSize: '256' },
      /databases\.cache\.plan\.maxDataSize must be a size like "256 MB" .*got "256"/,
    ],
    [
      'a price that is not a number',
      'databases.state.plan',
      { pricePer100kCommands: '0.2' },
      /databases\.state\.plan\.pricePer100kCommands must be an amount of dollars .*got "0\.2"/,
    ],
    [
      'a fractional daily limit',
      'databases.state.plan',
      { dailyCommands: 1.5 },
      /databases\.state\.plan\.dailyCommands must be a positive whole number, got 1\.5/,
    ],
    [
      'an unknown plan setting',
      'databases.state.plan',
      { commandsPerDay: 10 },
      /databases\.state\.plan\.commandsPerDay is not a known setting/,
    ],
    ['a budget of nothing', 'budget', { monthlyUsd: 0 }, /budget\.monthlyUsd must be more than 0, got 0/],
    [
      'a budget in words',
      'budget',
      { monthlyUsd: 'fifty' },
      /budget\.monthlyUsd must be an amount of dollars/,
    ],
    [
      'a namespace with a colon',
      'cache.namespaces',
      ['a:b'],
      /cache\.namespaces\.0 must be 1-64 letters, digits, _ or - \(a key's first segment\), got "a:b"/,
    ],
    [
      'a namespace twice',
      'cache.namespaces',
      ['p', 'p'],
      /cache\.namespaces must not name a namespace twice/,
    ],
    [
      'an idempotency lifetime of a second',
      'idempotency.ttl',
      '1 s',
      /idempotency\.ttl must be from "1 m" to "7 d"/,
    ],
    [
      'a key prefix with a colon',
      'keyPrefix',
      'my:app',
      /keyPrefix must be letters, digits, _ or -, at most 32, got "my:app"/,
    ],
    [
      'a retention CloudWatch does not offer',
      'logRetentionDays',
      10,
      /logRetentionDays must be one of 1, 3, 5, .*got 10/,
    ],
    ['a bad e-mail', 'alarmEmail', 'ops', /alarmEmail must be an email address, got "ops"/],
    [
      'a typo in a key',
      'cache.defaultTTL',
      '5 m',
      /cache\.defaultTTL is not a known setting \(known: defaultTtl, maxValueBytes, fallback, localWrites, namespaces\)/,
    ],
    [
      'a value above the Upstash request limit',
      'cache.maxValueBytes',
      20_000_000,
      /cache\.maxValueBytes must be at most 10485760 .*got 20000000/,
    ],
    [
      'an unknown database mode',
      'databases.cache.mode',
      'udp',
      /databases\.cache\.mode must be one of rest, tcp, got "udp"/,
    ],
  ])('fails on %s, naming the path and the value', (_what, path, value, message) => {
    expect(() => parseConfig(withValue(path, value))).toThrow(message);
  });

  it('fails when two databases share a secret', () => {
    const config = withValue('databases.state.secretName', 'upstash/cache');

    expect(() => parseConfig(config)).toThrow(
      /databases\.state\.secretName "upstash\/cache" is already used by databases\.cache/,
    );
  });

  it('fails on JSON that does not parse', () => {
    expect(() => parseConfig('{databases:')).toThrow(/upstash is not valid JSON/);
  });
});

describe('databasesOf', () => {
  it('lists the databases of some features, each once, in config order', () => {
    const config = parseConfig(THREE_DATABASES);

    expect(databasesOf(config, ['queue', 'cache', 'sessions', 'locks'])).toEqual(['cache', 'state']);
    expect(databasesOf(config, ['rateLimit'])).toEqual(['limits']);
  });
});

describe('runtimeConfig', () => {
  it('carries the runtime slice in ms, in the shape the runtime schema reads', () => {
    const appConfig = runtimeConfig(parseConfig(TWO_DATABASES));

    expect(Object.keys(appConfig).sort()).toEqual([
      'api',
      'auth',
      'cache',
      'idempotency',
      'rateLimits',
      'sessions',
    ]);
    expect(appConfig.sessions.idleTtlMs).toBe(3_600_000);
    expect(appConfig.auth).toEqual({
      type: 'api-key',
      revocationDelayMs: 300_000,
      cacheTtlMs: 240_000,
      keySetMaxAgeMs: 60_000,
    });
    expect(v.parse(RuntimeConfigSchema, JSON.parse(JSON.stringify(appConfig)))).toEqual(appConfig);
  });
});

describe('problems reported at once', () => {
  it('names the full path of every problem, one line each', () => {
    const config = {
      ...SINGLE_DATABASE,
      cahce: {},
      sessions: { idelTtl: '1 h' },
      rateLimits: { api: { limit: 0 } },
    };

    let problems: readonly string[] = [];
    try {
      parseConfig(config);
    } catch (error) {
      problems = (error as ConfigError).problems;
    }
    expect(problems).toEqual([
      'upstash.rateLimits.api.algorithm is required',
      'upstash.rateLimits.api.limit must be a positive whole number, got 0',
      'upstash.rateLimits.api.window is required',
      'upstash.sessions.idelTtl is not a known setting (known: idleTtl, absoluteTtl, maxPerUser)',
      expect.stringMatching(/^upstash\.cahce is not a known setting \(known: databases, features, /),
    ]);
  });

  it('makes `cdk synth` print those lines and no stack trace', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const context = JSON.stringify({ ...SINGLE_DATABASE, cahce: {}, sessions: { idelTtl: '1 h' } });
    const run = spawnSync(
      'node_modules/.bin/cdk',
      ['synth', '--quiet', '--output', scratchDir('synth-'), '-c', `upstash=${context}`],
      { cwd: root, encoding: 'utf8', env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true' } },
    );
    const lines = run.stderr.trim().split('\n');

    expect(run.status).toBe(1);
    expect(lines.slice(0, 2)).toEqual([
      'invalid configuration: upstash.sessions.idelTtl is not a known setting (known: idleTtl, absoluteTtl, maxPerUser)',
      expect.stringMatching(/^invalid configuration: upstash\.cahce is not a known setting/),
    ]);
    // Then only the CLI's own line that the app exited 1.
    expect(lines.slice(2)).toEqual([expect.stringMatching(/Subprocess exited with error 1$/)]);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});
