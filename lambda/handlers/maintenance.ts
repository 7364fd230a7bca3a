import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { GLOBAL, LockService } from '../services/lock';
import { DEFAULT_QUEUE, JobQueue, type MaintenanceResult, maintainQueue } from '../services/queue';
import { ValidationError } from '../shared/errors';
import { logFailure } from '../shared/log';
import { memoize } from '../shared/memo';
import { DIMENSIONS, METRICS, SERVICES } from '../shared/metric-definitions';
import { MetricsPublisher } from '../shared/metrics';
import { keyBuilder, redisFor } from '../shared/runtime';
import { InvocationUsage } from '../shared/usage';

/** The event EventBridge Scheduler sends (see `lib/constructs/scheduled-job.ts`). */
export interface MaintenanceEvent {
  readonly source?: string;
  readonly job?: string;
  readonly scheduledTime?: string;
  readonly executionId?: string;
  /** The queue to maintain. @default 'default' */
  readonly queue?: string;
}

/** What one invocation did; also logged as one JSON line. */
export type MaintenanceHandlerResult =
  | ({ readonly queue: string; readonly skipped: false } & MaintenanceResult)
  | { readonly queue: string; readonly skipped: true };

/** What the handler needs; built once per cold start, injectable in tests. */
export interface MaintenanceServices {
  readonly queueFor: (name: string) => JobQueue;
  readonly locks: LockService;
  /**
   * Prunes stale session index entries.
   * @default - none: SessionService offers only `pruneUser(tenant, userId)` (and prunes lazily on
   * list and revoke), and finding every user would be a keyspace scan, so the run reports
   * `sessionIndexesPruned: 'unavailable'`
   */
  readonly pruneSessionIndexes?: () => Promise<number>;
}

const LOCK_LEASE_MS = 60_000;

/** Builds the services from the runtime. */
export async function maintenanceServices(): Promise<MaintenanceServices> {
  const keys = keyBuilder();
  const [queueRedis, lockRedis] = await Promise.all([redisFor('queue'), redisFor('locks')]);
  const queues = new Map<string, JobQueue>();
  return {
    queueFor: (name) => {
      const queue = queues.get(name) ?? new JobQueue({ redis: queueRedis, keys, name });
      queues.set(name, queue);
      return queue;
    },
    locks: new LockService({ redis: lockRedis, keys }),
  };
}

/**
 * The maintenance handler over given services: one run at a time (a lock; skip when held),
 * then requeue expired leases, promote due jobs, prune, and publish QueueDepth (per queue, and
 * per queue and priority), InFlight, Delayed, DeadLetters and JobsRequeued per queue as EMF
 * metrics, with the run's Upstash usage. A failed run is logged (`maintenance failed`) before it
 * is thrown to Lambda.
 */
export function createMaintenanceHandler(
  services: () => Promise<MaintenanceServices>,
  logger: Logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME || SERVICES.maintenance }),
  metrics: MetricsPublisher = new MetricsPublisher({ defaultService: SERVICES.maintenance }),
): (event: unknown, context: Context) => Promise<MaintenanceHandlerResult> {
  return async (event, context) => {
    try {
      return await maintainOnce(event, context);
    } catch (error) {
      logFailure(logger, 'maintenance failed', error, { requestId: context.awsRequestId });
      throw error;
    }
  };

  async function maintainOnce(event: unknown, context: Context): Promise<MaintenanceHandlerResult> {
    const input = (typeof event === 'object' && event !== null ? event : {}) as Record<string, unknown>;
    const name = input.queue ?? DEFAULT_QUEUE;
    if (typeof name !== 'string')
      throw new ValidationError(`queue must be a string, got ${JSON.stringify(name)}`);
    const { queueFor, locks, pruneSessionIndexes } = await services();
    const queue = queueFor(name);

    const usage = new InvocationUsage();
    try {
      const outcome = await usage.run(() =>
        locks.withLock(
          GLOBAL,
          `maintenance:${queue.name}`,
          () => maintainQueue(queue, pruneSessionIndexes ? { pruneSessionIndexes } : {}),
          { leaseMs: LOCK_LEASE_MS, retry: { attempts: 1 } },
        ),
      );
      if (!outcome.acquired) {
        logger.info('maintenance skipped: another run holds the lock', {
          queue: queue.name,
          ...usage.logFields(),
        });
        return { queue: queue.name, skipped: true };
      }
      const result = outcome.value;

      const { ready, inFlight, delayed, deadLetters } = result.stats;
      const perQueue = { [DIMENSIONS.queue]: queue.name };
      for (const priority of ['high', 'normal', 'low'] as const) {
        metrics.add(METRICS.queueDepth, ready[priority], { ...perQueue, [DIMENSIONS.priority]: priority });
      }
      metrics.add(METRICS.queueDepth, ready.high + ready.normal + ready.low, perQueue);
      metrics.add(METRICS.inFlight, inFlight, perQueue);
      metrics.add(METRICS.delayed, delayed, perQueue);
      metrics.add(METRICS.deadLetters, deadLetters, perQueue);
      metrics.add(METRICS.jobsRequeued, result.requeued, perQueue);

      logger.info('maintenance done', {
        queue: queue.name,
        ...result,
        ...usage.logFields(),
        requestId: context.awsRequestId,
      });
      return { queue: queue.name, skipped: false, ...result };
    } finally {
      // Flushed before returning (Lambda freezes the container after), also after a failed run.
      metrics.addUsage(usage).publish();
    }
  }
}

/** Built once per cold start; a failed build is forgotten so the next invocation retries. */
const coldStartServices = memoize(maintenanceServices);

/** Test-only: a fresh container (the next invocation builds its services again). */
export function resetMaintenanceForTests(): void {
  coldStartServices.forget();
}

/** Lambda entry, invoked by EventBridge Scheduler. */
export const handler = createMaintenanceHandler(coldStartServices);
