import { randomBytes } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { vi } from 'vitest';
import type * as ApiModule from '../../lambda/handlers/api';
import type * as QueueWorkerModule from '../../lambda/handlers/queue-worker';
import { parseConfig, runtimeConfig } from '../../lib/config';
import type { UpstashEndpoint } from '../../local/upstash/server';
import { type ApiCall, apiEvent, bodyOf } from './http';
import { lambdaContext } from './lambda';
import { privateEndpoint, randomPrefix } from './redis';

/** What {@link apiContainer} gives a test: the api function (and the queue worker) of one container. */
export interface ApiContainer {
  readonly endpoint: UpstashEndpoint;
  readonly token: string;
  readonly prefix: string;
  readonly api: typeof ApiModule;
  readonly worker: typeof QueueWorkerModule;
  /** Calls the api handler as Lambda does, with the event API Gateway would build for `c`. */
  call(
    c: ApiCall,
  ): Promise<{ status: number; headers: Record<string, string>; body: ReturnType<typeof bodyOf> }>;
  /** Calls the api handler with a hand-made event. */
  invoke(event: APIGatewayProxyEventV2): ReturnType<typeof ApiModule.handler>;
  /** Runs the queue-worker function once, as EventBridge Scheduler would. */
  drain(): ReturnType<typeof QueueWorkerModule.handler>;
  close(): Promise<void>;
}

/**
 * A fresh api container (and a queue worker sharing its runtime) over an Upstash endpoint of the
 * test's own, on the shared Redis under a fresh key prefix, configured from `config` (cdk.json
 * syntax; one database unless it says otherwise). Call in `beforeAll`, close in `afterAll`.
 */
export async function apiContainer(config: Record<string, unknown> = {}): Promise<ApiContainer> {
  const { endpoint, token } = await privateEndpoint(`api-${randomBytes(4).toString('hex')}`);
  const prefix = randomPrefix();
  delete process.env.UPSTASH_DATABASES;
  delete process.env.FEATURE_DATABASES;
  Object.assign(process.env, {
    UPSTASH_REDIS_REST_URL: endpoint.url,
    UPSTASH_REDIS_REST_TOKEN: token,
    KEY_PREFIX: prefix,
    APP_CONFIG: JSON.stringify(
      runtimeConfig(parseConfig({ databases: { main: { secretName: 'upstash/main' } }, ...config })),
    ),
    POWERTOOLS_METRICS_NAMESPACE: 'ApiTest',
  });
  vi.resetModules();
  const runtime = await import('../../lambda/shared/runtime');
  await runtime.resetRuntimeForTests();
  const api = await import('../../lambda/handlers/api');
  const worker = await import('../../lambda/handlers/queue-worker');
  const context = () => lambdaContext({ functionName: 'api', remainingMs: 10_000 });
  return {
    endpoint,
    token,
    prefix,
    api,
    worker,
    async call(c) {
      const response = await api.handler(apiEvent(c), context());
      return { status: response.statusCode, headers: response.headers, body: bodyOf(response) };
    },
    invoke: (event) => api.handler(event, context()),
    drain: () =>
      worker.handler(
        { source: 'scheduler', job: 'queue-worker' },
        lambdaContext({ functionName: 'queue-worker', remainingMs: 30_000 }),
      ),
    close: () => endpoint.close(),
  };
}
