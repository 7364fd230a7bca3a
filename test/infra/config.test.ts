import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  configFromContext,
  databasesOf,
  featureEnvironment,
  parseConfig,
  parseDuration,
} from '../../lib/config';
import { SINGLE_DATABASE, THREE_DATABASES, TWO_DATABASES } from './helpers';

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

describe('parseDuration', () => {
  it.each([
    ['60 s', 60_000],
    ['5 m', 300_000],
    ['1 h', 3_600_000],
    ['24 h', 86_400_000],
    ['250 ms', 250],
    ['15 minutes', 900_000],
    ['7 d', 604_800_000],
  ])('parses %j to %i ms', (text, ms) => {
    expect(parseDuration(text, 'x')).toBe(ms);
  });

  it.each([['60'], ['5 weeks'], ['-1 s'], ['1.5 h'], ['0 s'], [60]])(
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
    });
    expect(config.schedules).toEqual({ queueWorker: 'rate(1 minute)', maintenance: 'rate(15 minutes)' });
    expect(config.auth).toEqual({ type: 'api-key', secretName: 'upstash/api-keys', cacheTtlMs: 300_000 });
    expect(config.keyPrefix).toBe('app');
  });

  it('puts every feature on the only database and defaults everything else', () => {
    const config = parseConfig(SINGLE_DATABASE);

    expect(config.features).toEqual({
      cache: 'main',
      sessions: 'main',
      rateLimit: 'main',
      locks: 'main',
      queue: 'main',
    });
    expect(config.databases.main).toEqual({ secretName: 'upstash/main', mode: 'rest' });
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
      /auth\.audience must be a non-empty string or list of strings, got nothing/,
    ],
    [
      'an authorizer cache above one hour',
      'auth.cacheTtl',
      '2 h',
      /auth\.cacheTtl must be at most "1 h", got "2 h"/,
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
      /cache\.defaultTTL is not a known setting \(known: defaultTtl, maxValueBytes, fallback, localWrites\)/,
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

describe('featureEnvironment', () => {
  it('maps only the given features and carries durations in ms', () => {
    const env = featureEnvironment(parseConfig(TWO_DATABASES), ['queue', 'cache']);

    expect(JSON.parse(env.FEATURE_DATABASES as string)).toEqual({ queue: 'state', cache: 'cache' });
    const appConfig = JSON.parse(env.APP_CONFIG as string);
    expect(Object.keys(appConfig).sort()).toEqual(['api', 'auth', 'cache', 'rateLimits', 'sessions']);
    expect(appConfig.sessions.idleTtlMs).toBe(3_600_000);
    expect(appConfig.auth).toEqual({ type: 'api-key', cacheTtlMs: 300_000 });
  });
});
