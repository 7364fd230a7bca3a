import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import {
  type MintOptions,
  mintApiKey,
  parseApiKeySet,
  type Scope,
  serializeApiKeySet,
} from '../lambda/shared/api-keys';
import { ROUTES } from '../lambda/shared/routes';
import { type AppConfig, parseConfig, runtimeConfig } from '../lib/config';
import { importHandlers, SwappableHandlers } from './handlers';
import { type GatewayAuthorizer, type GatewayRequest, HttpGateway } from './http-gateway';
import { startLocalStack } from './kit';
import type { LocalHandler } from './lambda-runtime';
import { tagCallsTo } from './request-tags';
import { LocalScheduler, type ScheduledRun } from './scheduler';
import type { SecretsManagerEndpoint } from './secrets-manager/server';
import type { UpstashEndpoint } from './upstash/server';
import { HandlerWatcher, type WatchOptions } from './watch';

/**
 * This project's whole app on one machine: the backends of `startLocalStack` (`local/kit.ts`: a
 * Redis, the local Upstash REST endpoint with one token per database of the config, the local
 * Secrets Manager with the secrets the stacks would create, filled in, and the function
 * environment as the constructs write it), the API-key secret, and the real handlers behind the
 * local API gateway and scheduler. `npm start` runs it; end-to-end tests and the benchmarks start
 * it in-process.
 */

/** Options of {@link startLocalApp}. */
export interface LocalAppOptions {
  /**
   * Port of the HTTP API; 0 picks a free one.
   * @default 3000
   */
  readonly port?: number;
  /**
   * A Redis to use instead of starting one. Never flushed: the stack keeps to its key prefix.
   * The databases of the config use its logical databases 0, 1, ... in config order.
   * @default - a private redis-server on a free port
   */
  readonly redisUrl?: string;
  /**
   * First segment of every key.
   * @default the config's keyPrefix
   */
  readonly keyPrefix?: string;
  /**
   * Changes to the configuration, in the shape of cdk.json's `upstash` context, merged over it
   * key by key (objects merge, anything else replaces): `{ rateLimits: { api: { limit: 3 } } }`
   * changes one number. `databases` is the exception: given, it replaces the whole set (a
   * database it does not list is not created), so set `features` to match.
   * @default cdk.json's `upstash` context as it is
   */
  readonly config?: Record<string, unknown>;
  /** Tenant of the development key. @default 'dev' */
  readonly tenant?: string;
  /** Run the scheduled handlers on their rates. @default true */
  readonly scheduler?: boolean;
  /** Called after each scheduled run. */
  readonly onScheduledRun?: (run: ScheduledRun) => void;
  /** Called after each api invocation with the exact event and result (recording). */
  readonly onInvoke?: (event: APIGatewayProxyEventV2, result: APIGatewayProxyResultV2 | Error) => void;
  /**
   * Rebuild and reload the handlers when their sources change (`npm start -- --watch`):
   * `true`, or where the sources are and what to call after each reload. Redis, the endpoints,
   * the secrets and the API keys stay.
   * @default false - the handlers as imported once
   */
  readonly watch?: boolean | WatchOptions;
}

/** What happens in the stack, for the console and the terminal. */
export interface StackObserver {
  /** Each HTTP request, once answered. */
  readonly request?: (request: GatewayRequest) => void;
  /** Each scheduled run (on its rate or run now), once done. */
  readonly scheduled?: (run: ScheduledRun) => void;
}

/** A running local app. */
export interface LocalApp {
  /** Base URL of the HTTP API, no trailing slash. */
  readonly url: string;
  /** The development API key (scopes `*`), shown once by `npm start`. */
  readonly apiKey: string;
  readonly tenant: string;
  readonly keyPrefix: string;
  readonly redisUrl: string;
  readonly upstashUrl: string;
  readonly secretsUrl: string;
  /** The validated configuration the stack runs. */
  readonly config: AppConfig;
  /** The function environment, as the stacks set it (plus the local endpoints). */
  readonly env: Readonly<Record<string, string>>;
  readonly gateway: HttpGateway;
  readonly upstash: UpstashEndpoint;
  readonly secrets: SecretsManagerEndpoint;
  /** Upstash tokens by database name. */
  readonly tokens: Readonly<Record<string, string>>;
  /**
   * The schedules: on their rates unless the stack was started with `scheduler: false`, and
   * `runNow(job)` either way.
   */
  readonly scheduler: LocalScheduler;
  /** The handler watcher, when started with `watch`. */
  readonly watcher?: HandlerWatcher;
  /** The handlers, as the gateway and scheduler call them (the current build's, with `watch`). */
  readonly handlers: Readonly<
    Record<'api' | 'authorizer' | 'queueWorker' | 'maintenance' | 'usageProbe', LocalHandler>
  >;
  /** Mints another key into the API-key secret (printed nowhere). */
  mintKey(
    tenant: string,
    scopes?: readonly Scope[],
    options?: MintOptions,
  ): Promise<{ key: string; id: string }>;
  /**
   * The api function forgets its services (its rate limiters' memory of blocked identifiers with
   * them), as a new container would; clients and credentials stay. The console calls it after it
   * resets a limit, so the stack's one api container lets the next request through.
   */
  resetApiServices(): void;
  /** Calls `observer` for each request and scheduled run from now on; returns what stops it. */
  observe(observer: StackObserver): () => void;
  /** Stops everything the stack started; leaves nothing running. */
  stop(): Promise<void>;
}

/** Name of the API-key secret, as the secrets stack names it. */
export const API_KEYS_SECRET = 'upstash/api-keys';

/** The `upstash` context of cdk.json, the configuration `cdk deploy` uses. */
export function cdkConfig(): Record<string, unknown> {
  const cdk = JSON.parse(readFileSync(new URL('../cdk.json', import.meta.url), 'utf8')) as {
    context?: { upstash?: Record<string, unknown> };
  };
  return cdk.context?.upstash ?? {};
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * `override` merged over `base`: objects key by key, anything else replaced; the top-level
 * `databases` replaced as a whole.
 */
export function mergeConfig(
  base: Record<string, unknown>,
  override: Record<string, unknown>,
  depth = 0,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = merged[key];
    const replace = depth === 0 && key === 'databases';
    merged[key] =
      !replace && isPlainObject(current) && isPlainObject(value)
        ? mergeConfig(current, value, depth + 1)
        : value;
  }
  return merged;
}

/** Starts the local app. Sets `process.env` for the handlers: one app per process. */
export async function startLocalApp(options: LocalAppOptions = {}): Promise<LocalApp> {
  const config = parseConfig(mergeConfig(cdkConfig(), options.config ?? {}));
  const keyPrefix = options.keyPrefix ?? config.keyPrefix;
  const tenant = options.tenant ?? 'dev';
  const cleanup: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const step of cleanup.reverse()) await step().catch(() => {});
    cleanup.length = 0;
  };
  try {
    const names = Object.keys(config.databases);
    const backends = await startLocalStack({
      databases: names,
      features: config.features,
      secretNames: Object.fromEntries(
        names.map((name) => [name, config.databases[name]?.secretName ?? `upstash/${name}`]),
      ),
      keyPrefix,
      config: runtimeConfig(config),
      ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}),
    });
    cleanup.push(() => backends.stop());
    const { redisUrl, upstash, secrets, tokens } = backends;
    const apiKeysArn = secrets.create(API_KEYS_SECRET, serializeApiKeySet({ keys: [] }));

    const env: Record<string, string> = {
      ...backends.env,
      API_KEYS_SECRET_ARN: apiKeysArn,
      // The local Secrets Manager costs nothing: a key minted a moment ago works at once.
      API_KEYS_REFRESH_MS: '0',
      // As deployed: with the gateway's cache, a revoked key stops within auth.revocationDelay.
      ...(config.auth.type === 'api-key' ? { API_KEYS_MAX_AGE_MS: String(config.auth.keySetMaxAgeMs) } : {}),
      POWERTOOLS_METRICS_NAMESPACE: config.metricsNamespace,
    };
    // The handlers read their environment when first called, as a cold start would.
    Object.assign(process.env, env);
    for (const name of ['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN']) delete process.env[name];

    const mintKey = async (keyTenant: string, scopes: readonly Scope[] = ['*'], mint: MintOptions = {}) => {
      const minted = mintApiKey(keyTenant, scopes, new Date(), mint);
      const current = parseApiKeySet(secrets.value(API_KEYS_SECRET));
      secrets.put(API_KEYS_SECRET, serializeApiKeySet({ keys: [...current.keys, minted.record] }));
      return { key: minted.key, id: minted.record.id };
    };
    const dev = await mintKey(tenant);

    // Every Upstash call of the stack's work carries its tag, so the endpoint reports what each
    // request cost (request-tags.ts).
    const untag = tagCallsTo(upstash.url);
    cleanup.push(async () => untag());
    const observers = new Set<StackObserver>();
    const observe = (observer: StackObserver) => {
      observers.add(observer);
      return () => observers.delete(observer);
    };

    // The handlers: imported once, or rebuilt on every change of their sources (watch.ts).
    const imported = await importHandlers();
    // Every function starts cold: clients, credentials and key sets of an earlier stack in this
    // process (its endpoints are gone) are forgotten, as new Lambda containers would have none.
    await imported.coldStart();
    cleanup.push(() => imported.coldStart());
    const current = new SwappableHandlers(imported);
    let watcher: HandlerWatcher | undefined;
    if (options.watch) {
      const watchOptions = options.watch === true ? {} : options.watch;
      watcher = await HandlerWatcher.start(watchOptions, (next) => current.swap(next));
      const running = watcher;
      cleanup.push(() => running.close());
    }
    const handlers = current.calls;

    const gateway = await HttpGateway.start({
      routes: ROUTES,
      handler: handlers.api as LocalHandler<APIGatewayProxyEventV2, APIGatewayProxyResultV2>,
      functionName: 'api',
      timeoutMs: 10_000,
      authorizer: {
        handler: handlers.authorizer as GatewayAuthorizer['handler'],
        identityHeader: 'x-api-key',
        cacheTtlMs: config.auth.type === 'api-key' ? config.auth.cacheTtlMs : 300_000,
        timeoutMs: 5_000,
      },
      port: options.port ?? 3000,
      ...(options.onInvoke ? { onInvoke: options.onInvoke } : {}),
      onRequest: (request) => {
        for (const observer of observers) observer.request?.(request);
      },
    });
    cleanup.push(() => gateway.close());

    const scheduled = (job: string, expression: string, handler: LocalHandler) => ({
      job,
      expression,
      handler: handler as LocalHandler<Record<string, unknown>, unknown>,
      timeoutMs: 60_000,
    });
    const scheduler = new LocalScheduler(
      [
        scheduled('queue-worker', config.schedules.queueWorker, handlers.queueWorker),
        scheduled('maintenance', config.schedules.maintenance, handlers.maintenance),
        scheduled('usage-probe', config.schedules.usageProbe, handlers.usageProbe),
      ],
      (run) => {
        options.onScheduledRun?.(run);
        for (const observer of observers) observer.scheduled?.(run);
      },
      { timers: options.scheduler ?? true },
    );
    cleanup.push(() => scheduler.stop());

    return {
      url: gateway.url,
      apiKey: dev.key,
      tenant,
      keyPrefix,
      redisUrl,
      upstashUrl: upstash.url,
      secretsUrl: secrets.url,
      config,
      env,
      gateway,
      upstash,
      secrets,
      tokens,
      scheduler,
      ...(watcher ? { watcher } : {}),
      handlers,
      mintKey,
      observe,
      resetApiServices: () => current.resetApi(),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
