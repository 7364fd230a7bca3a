/**
 * The local kit (`upstash-serverless-state/local`): a function's backends on one machine, for
 * your own tests and local runs, with no AWS account and no Upstash account. The local Upstash
 * REST endpoint (the real `@upstash/redis` and `@upstash/ratelimit` run against it), the local
 * Secrets Manager (`GetSecretValue` over the AWS JSON protocol), a private `redis-server`, and
 * `startLocalStack`, which starts all three with the function environment `UpstashFunction` would
 * write. The endpoint also runs on its own: `npx upstash-local --redis-url redis://... --token t`.
 *
 * @module
 */
export { type LocalStack, type LocalStackOptions, startLocalStack } from './kit';
export { type RedisServer, type RedisServerOptions, startRedisServer } from './redis-server';
export { SecretsManagerEndpoint, type SecretsManagerEndpointOptions } from './secrets-manager/server';
export { type UpstashDatabase, UpstashEndpoint, type UpstashEndpointOptions } from './upstash/server';
