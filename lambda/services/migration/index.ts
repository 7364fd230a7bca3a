/**
 * Migration from a self-hosted Redis (`upstash-serverless-state/migration`): the router that
 * sends each command to the old Redis, Upstash or both by mode, and the resumable key copy.
 *
 * @module
 */
export {
  fnv1a,
  keyPattern,
  MIGRATION_MODES,
  type MigrationMode,
  MigrationRouter,
  type MigrationRouterOptions,
  type MigrationStats,
  type RolloutBy,
  rolloutBucket,
} from '../../shared/migration';
export {
  type CheckpointStore,
  COPIED_TYPES,
  type CopyOptions,
  type CopyProgress,
  type CopyRate,
  copyKeys,
  redisCheckpoint,
  type VerifyOptions,
  type VerifyReport,
  verifyKeys,
} from './copy';
export {
  type CopyJobOptions,
  type CopySliceReport,
  checkpointKey,
  copyId,
  MIGRATION_COPY,
  OPERATOR_JOB_PREFIX,
  registerCopyJob,
} from './copy-job';
