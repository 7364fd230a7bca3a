/**
 * The runtime (`upstash-serverless-state/runtime`): what a handler needs around the services.
 * Clients built once per cold start from the environment `UpstashFunction` writes
 * (`redisFor('cache')`) or from a URL, token or secret of your own (`createClient`); the key
 * builder; the validated runtime configuration; typed errors; the circuit breaker; the Lua helper.
 * The services themselves are subpaths of their own (`/cache`, `/sessions`, `/rate-limit`,
 * `/lock`, `/queue`, `/migration`), so a bundle carries only what its handler imports.
 *
 * @module
 */
export {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitPermit,
  circuitFor,
} from './circuit-breaker';
export {
  type ClientOptions,
  type ClientSource,
  type CreateClientOptions,
  createClient,
  type ManagedRedisClient,
  withRequestDeadline,
} from './client';
export {
  type Algorithm,
  DEFAULTS,
  FEATURES,
  type Feature,
  OUTAGE_POLICIES,
  type OutagePolicy,
  RATE_LIMIT_ALGORITHMS,
  type RuntimeConfig,
  type RuntimeConfigInput,
  RuntimeConfigSchema,
} from './config';
export {
  type DatabaseMode,
  ENV,
  functionEnvironment,
  type RuntimeDatabase,
  type RuntimeEnv,
  readRuntimeEnv,
} from './env';
export {
  AppError,
  ConfigurationError,
  ConflictError,
  CredentialsError,
  type ErrorCode,
  errorCode,
  NotFoundError,
  PayloadTooLargeError,
  UpstashUnavailableError,
  ValidationError,
  type WriteOutcome,
} from './errors';
export { KeyBuilder, type KeySpace, validateId, validateTenant } from './keys';
export { type Memo, MemoMap, memoize } from './memo';
export { type RedisClient, type RedisLike, type ServerKind, type SetOptions, toRedisLike } from './redis';
export {
  appConfig,
  type DatabaseHealth,
  databaseFor,
  healthCheck,
  keyBuilder,
  redisFor,
  redisForDatabase,
  resetRuntimeForTests,
  runtimeEnv,
} from './runtime';
export { defineScript, type LuaScript, runScript } from './scripts';
