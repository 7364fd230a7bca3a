/**
 * The job type of a key copy run by the queue worker. Operators enqueue it, not tenants; its
 * definition (scope, payload) is `MIGRATION_COPY_JOB` in lambda/services/queue/job-types.ts.
 */
export const MIGRATION_COPY = 'migration.copy';

/** Job types the HTTP API refuses to enqueue: they act on every tenant's data. */
export const OPERATOR_JOB_PREFIX = 'migration.';
