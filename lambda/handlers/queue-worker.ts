import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { registerAppJobs } from '../jobs/handlers';
import { APP_JOB_TYPES } from '../jobs/types';
import { CacheService } from '../services/cache/cache-service';
import { GLOBAL, LockService } from '../services/lock';
import { registerCopyJob } from '../services/migration/copy-job';
import {
  DEFAULT_QUEUE,
  type DrainResult,
  drainQueue,
  type Job,
  JobQueue,
  JobRegistry,
  registerBuiltinJobs,
  type StopReason,
} from '../services/queue';
import { SessionService } from '../services/sessions/session-service';
import { ConfigurationError, ValidationError } from '../shared/errors';
import { logFailure } from '../shared/log';
import { memoize } from '../shared/memo';
import { SERVICES } from '../shared/metric-definitions';
import { MetricsPublisher } from '../shared/metrics';
import {
  appConfig,
  keyBuilder,
  migrationRouters,
  migrationSourceUrl,
  redisFor,
  upstashForDatabase,
} from '../shared/runtime';
import { InvocationUsage } from '../shared/usage';

/**
 * The event EventBridge Scheduler sends: the schedule's input (`lib/constructs/scheduled-job.ts`)
 * with its context attributes filled in. The optional fields let a schedule tune one drain.
 */
export interface QueueWorkerEvent {
  readonly source?: string;
  readonly job?: string;
  readonly scheduledTime?: string;
  readonly executionId?: string;
  /** The queue to drain. @default 'default' */
  readonly queue?: string;
  /** Stop taking jobs this long before the invocation's deadline, in ms. @default 3_000 */
  readonly safetyMarginMs?: number;
  /** Jobs run at once. @default 4 */
  readonly concurrency?: number;
}

/** What one invocation did; also logged as one JSON line. */
export interface QueueWorkerResult extends Omit<DrainResult, 'stoppedBecause'> {
  readonly queue: string;
  /** True when another invocation was draining this queue (its lock was held). */
  readonly skipped: boolean;
  readonly stoppedBecause: StopReason | 'lock-held';
}

/** What the handler needs; built once per cold start, injectable in tests. */
export interface QueueWorkerServices {
  readonly queueFor: (name: string) => JobQueue;
  readonly locks: LockService;
  readonly registry: JobRegistry;
}

/** Logs where a key copy stands after each of its slices (counts, rate, ETA; never keys or values). */
const copyLogger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME || 'queue-worker' });

/** How long the drain lock is leased; it is renewed every third of it while the drain runs. */
const DRAIN_LOCK_LEASE_MS = 15_000;

/** Builds the services from the runtime: one client per database, from Secrets Manager. */
export async function queueWorkerServices(): Promise<QueueWorkerServices> {
  const keys = keyBuilder();
  const [queueRedis, lockRedis, cacheRedis, sessionRedis] = await Promise.all([
    redisFor('queue'),
    redisFor('locks'),
    redisFor('cache'),
    redisFor('sessions'),
  ]);
  // revokeAll reads the user index up to the absolute lifetime, so it must be the deployed one.
  const sessions = new SessionService({ redis: sessionRedis, keys, ...appConfig().sessions });
  const registry = registerBuiltinJobs(new JobRegistry(), {
    // No fallback: an invalidation that cannot reach the cache database fails and is retried.
    cache: new CacheService({ redis: cacheRedis, keys, fallback: false }),
    revokeUserSessions: (tenant, userId) => sessions.revokeAll(tenant, userId),
  });
  const queues = new Map<string, JobQueue>();
  const queueFor = (name: string): JobQueue => {
    const queue = queues.get(name) ?? new JobQueue({ redis: queueRedis, keys, name });
    queues.set(name, queue);
    return queue;
  };
  registerCopyJob(registry, {
    keys,
    target: upstashForDatabase,
    sourceUrl: migrationSourceUrl,
    queue: () => queueFor('default'),
    onSlice: (report) => copyLogger.info('migration copy progress', { ...report }),
  });
  registerAppJobs(registry);
  checkAppJobs(registry);
  return {
    queueFor,
    locks: new LockService({ redis: lockRedis, keys }),
    registry,
  };
}

/**
 * Every job type the app defines (lambda/jobs/types.ts) has a handler (lambda/jobs/handlers.ts):
 * else the api function would accept jobs nobody runs, so the worker refuses to start.
 * @throws ConfigurationError naming the types without one
 */
export function checkAppJobs(registry: JobRegistry, types = APP_JOB_TYPES): void {
  const missing = types.filter((t) => registry.get(t.type) === undefined).map((t) => t.type);
  if (missing.length > 0) {
    throw new ConfigurationError(
      `job types without a handler: ${missing.join(', ')} (register them in lambda/jobs/handlers.ts)`,
    );
  }
}

function parseEvent(
  event: unknown,
): Required<Pick<QueueWorkerEvent, 'queue' | 'safetyMarginMs' | 'concurrency'>> {
  const input = (typeof event === 'object' && event !== null ? event : {}) as Record<string, unknown>;
  const queue = input.queue ?? DEFAULT_QUEUE;
  const safetyMarginMs = input.safetyMarginMs ?? 3_000;
  const concurrency = input.concurrency ?? 4;
  if (typeof queue !== 'string')
    throw new ValidationError(`queue must be a string, got ${JSON.stringify(queue)}`);
  if (!Number.isSafeInteger(safetyMarginMs) || (safetyMarginMs as number) < 0) {
    throw new ValidationError(
      `safetyMarginMs must be a non-negative integer, got ${JSON.stringify(safetyMarginMs)}`,
    );
  }
  if (!Number.isSafeInteger(concurrency) || (concurrency as number) < 1 || (concurrency as number) > 64) {
    throw new ValidationError(
      `concurrency must be an integer from 1 to 64, got ${JSON.stringify(concurrency)}`,
    );
  }
  return { queue, safetyMarginMs: safetyMarginMs as number, concurrency: concurrency as number };
}

/**
 * The queue-worker handler over given services: parse the schedule's input, take the queue's
 * drain lock (one drain per queue at a time; skip when held), drain until the queue is empty or
 * the deadline less the safety margin, publish the drain's Upstash usage, log and return the
 * counts. Every failed job is logged (`job failed`: WARN when it will be retried, ERROR when
 * dead-lettered), and a failed invocation is logged (`queue drain failed`) before it is thrown to
 * Lambda, so Scheduler retries it.
 */
export function createQueueWorkerHandler(
  services: () => Promise<QueueWorkerServices>,
  logger: Logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME || SERVICES.queueWorker }),
  metrics: MetricsPublisher = new MetricsPublisher({ defaultService: SERVICES.queueWorker }),
): (event: unknown, context: Context) => Promise<QueueWorkerResult> {
  const onJobFailed = (job: Job, error: unknown, outcome: 'retry' | 'dead' | 'lease-lost') =>
    // Ids and counts only: a payload may hold a tenant's data.
    logFailure(logger, 'job failed', error, {
      level: outcome === 'dead' ? 'error' : 'warn',
      jobId: job.id,
      type: job.type,
      tenant: job.tenant,
      attempts: job.attempts,
      maxAttempts: job.maxAttempts,
      outcome,
    });
  return async (event, context) => {
    try {
      return await drainOnce(event, context);
    } catch (error) {
      logFailure(logger, 'queue drain failed', error, { requestId: context.awsRequestId });
      throw error;
    }
  };

  async function drainOnce(event: unknown, context: Context): Promise<QueueWorkerResult> {
    const deadline = Date.now() + context.getRemainingTimeInMillis();
    const { queue: name, safetyMarginMs, concurrency } = parseEvent(event);
    const { queueFor, locks, registry } = await services();
    const queue = queueFor(name);

    const usage = new InvocationUsage();
    try {
      const outcome = await usage.run(() =>
        locks.withLock(
          GLOBAL,
          `queue-drain:${queue.name}`,
          ({ signal }) =>
            drainQueue(queue, registry, { deadline, safetyMarginMs, concurrency, signal, onJobFailed }),
          { leaseMs: DRAIN_LOCK_LEASE_MS, retry: { attempts: 1 } },
        ),
      );
      const result: QueueWorkerResult = outcome.acquired
        ? { queue: queue.name, skipped: false, ...outcome.value }
        : {
            queue: queue.name,
            skipped: true,
            processed: 0,
            succeeded: 0,
            failed: 0,
            deadLettered: 0,
            leaseLost: 0,
            stoppedBecause: 'lock-held',
          };
      // Shadow comparisons a job's reads started must finish before Lambda freezes the container.
      await Promise.all([...migrationRouters().values()].map((router) => router.settle()));
      logger.info('queue drained', { ...result, ...usage.logFields(), requestId: context.awsRequestId });
      return result;
    } finally {
      // Also after a failed drain: what it sent is billed all the same.
      metrics.addUsage(usage).publish();
    }
  }
}

/** Built once per cold start; a failed build is forgotten so the next invocation retries. */
const coldStartServices = memoize(queueWorkerServices);

/** Test-only: a fresh container (the next invocation builds its services again). */
export function resetQueueWorkerForTests(): void {
  coldStartServices.forget();
}

/** Lambda entry, invoked by EventBridge Scheduler. */
export const handler = createQueueWorkerHandler(coldStartServices);
