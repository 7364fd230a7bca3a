/**
 * The constructs (`upstash-serverless-state/constructs`): a function wired to its databases, the
 * secrets that hold their credentials, schedules, and the cdk.json configuration schema the
 * project's own stacks read. Everything runs at synth; nothing here reaches a Lambda bundle.
 *
 * @module
 */

export {
  DEFAULTS,
  FEATURES,
  type Feature,
  type RuntimeConfig,
  type RuntimeConfigInput,
  RuntimeConfigSchema,
} from '../../lambda/shared/config';
export {
  type AppConfig,
  ConfigError,
  ConfigSchema,
  configFromContext,
  parseConfig,
  runtimeConfig,
} from '../config';
export { ApiKeysSecret, type ApiKeysSecretProps } from './api-keys-secret';
export { ScheduledJob, type ScheduledJobProps } from './scheduled-job';
export {
  type DatabaseMigrationProps,
  UpstashDatabaseSecret,
  type UpstashDatabaseSecretProps,
} from './upstash-database-secret';
export {
  ESM_REQUIRE_BANNER,
  type FeatureDatabases,
  INJECTED_MODULES,
  SDK_LEFT_TO_RUNTIME,
  UpstashFunction,
  type UpstashFunctionProps,
} from './upstash-function';
