import type { Feature, RuntimeConfigInput } from '../lambda/shared/config';
import { RuntimeConfigSchema, validate } from '../lambda/shared/config';
import { functionEnvironment } from '../lambda/shared/env';
import { type RedisServer, startRedisServer } from './redis-server';
import { SecretsManagerEndpoint } from './secrets-manager/server';
import { UpstashEndpoint } from './upstash/server';

/**
 * The backends of a function on one machine, for your own tests and local runs: a Redis (a
 * private `redis-server`, or yours), the local Upstash REST endpoint with one token per database,
 * the local Secrets Manager holding each database's `{"url","token"}` secret, and the function
 * environment `UpstashFunction` would write for the same databases and features, pointed at them.
 * Run your handler with {@link LocalStack.env} and the real `@upstash/redis` and AWS SDK code
 * paths run, with no AWS account and no Upstash account.
 *
 * @example
 * const stack = await startLocalStack({
 *   databases: ['page-cache', 'limits'],
 *   features: { cache: 'page-cache', rateLimit: 'limits' },
 * });
 * Object.assign(process.env, stack.env);
 * const { handler } = await import('./search-handler');
 * // ... invoke it, then:
 * await stack.stop();
 */

/** Options of {@link startLocalStack}. */
export interface LocalStackOptions {
  /**
   * The databases, by the names the functions use.
   * @default ['default']
   */
  readonly databases?: readonly string[];
  /**
   * Which database serves each feature.
   * @default - with one database, every feature on it; with several, none
   */
  readonly features?: Readonly<Partial<Record<Feature, string>>>;
  /**
   * Secret name of each database.
   * @default `upstash/<database>`
   */
  readonly secretNames?: Readonly<Record<string, string>>;
  /**
   * First segment of every key (`KEY_PREFIX`).
   * @default 'app'
   */
  readonly keyPrefix?: string;
  /**
   * The runtime configuration (`APP_CONFIG`), as `UpstashFunction`'s `config` prop takes it.
   * @default - none: the defaults
   */
  readonly config?: RuntimeConfigInput;
  /**
   * A Redis to use instead of starting one. Never flushed: keep to your own key prefix. The
   * databases use its logical databases 0, 1, ... in the order given.
   * @default - a private redis-server on a free port (Debian: `apt-get install redis-server`)
   */
  readonly redisUrl?: string;
}

/** The running backends of {@link startLocalStack}. */
export interface LocalStack {
  /**
   * The function environment: `UPSTASH_DATABASES` (local secret ARNs), `FEATURE_DATABASES`,
   * `KEY_PREFIX`, `APP_CONFIG`, and the local Secrets Manager endpoint with dummy AWS
   * credentials. Holds no token (those are in the local secrets).
   */
  readonly env: Readonly<Record<string, string>>;
  readonly redisUrl: string;
  /** Base URL of the local Upstash REST endpoint (`UPSTASH_REDIS_REST_URL`). */
  readonly upstashUrl: string;
  /** Base URL of the local Secrets Manager (`AWS_ENDPOINT_URL_SECRETS_MANAGER`). */
  readonly secretsUrl: string;
  /** Upstash token of each database, for a client of your own (`createClient({ url, token })`). */
  readonly tokens: Readonly<Record<string, string>>;
  /** The secret ARN of each database. */
  readonly secretArns: Readonly<Record<string, string>>;
  readonly upstash: UpstashEndpoint;
  readonly secrets: SecretsManagerEndpoint;
  /** Stops everything it started, in reverse order; leaves nothing running. */
  stop(): Promise<void>;
}

const withDatabase = (redisUrl: string, index: number): string => {
  const url = new URL(redisUrl);
  url.pathname = `/${index}`;
  return url.toString();
};

/** Starts the backends; see {@link LocalStack}. */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const names = options.databases ?? ['default'];
  if (names.length === 0) throw new Error('startLocalStack needs at least one database');
  const config =
    options.config === undefined
      ? undefined
      : validate(RuntimeConfigSchema, options.config, 'config', (lines) => new Error(lines.join('\n')));
  const only = names.length === 1 ? names[0] : undefined;
  const features =
    options.features ??
    (only ? { cache: only, sessions: only, rateLimit: only, locks: only, queue: only } : {});
  const cleanup: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
    cleanup.length = 0;
  };
  try {
    let redis: RedisServer | undefined;
    if (!options.redisUrl) {
      redis = await startRedisServer();
      cleanup.push(() => (redis as RedisServer).stop());
    }
    const redisUrl = options.redisUrl ?? (redis as RedisServer).url;
    const tokens = Object.fromEntries(names.map((name) => [name, `local-${name}-token`]));
    const upstash = await UpstashEndpoint.start({
      databases: names.map((name, index) => ({
        token: tokens[name] as string,
        redisUrl: withDatabase(redisUrl, index),
      })),
    });
    cleanup.push(() => upstash.close());
    const secrets = await SecretsManagerEndpoint.start();
    cleanup.push(() => secrets.close());
    const secretArns = Object.fromEntries(
      names.map((name) => [
        name,
        secrets.create(
          options.secretNames?.[name] ?? `upstash/${name}`,
          JSON.stringify({ url: upstash.url, token: tokens[name] }),
        ),
      ]),
    );
    const env = {
      ...functionEnvironment({
        databases: Object.fromEntries(names.map((name) => [name, { secretArn: secretArns[name] as string }])),
        features,
        ...(options.keyPrefix ? { keyPrefix: options.keyPrefix } : {}),
        ...(config ? { config } : {}),
      }),
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_REGION: 'us-east-1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      UPSTASH_DISABLE_TELEMETRY: '1',
    };
    return {
      env,
      redisUrl,
      upstashUrl: upstash.url,
      secretsUrl: secrets.url,
      tokens,
      secretArns,
      upstash,
      secrets,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
