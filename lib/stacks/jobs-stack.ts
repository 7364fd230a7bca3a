import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { SERVICES } from '../../lambda/shared/metric-definitions';
import { type AppConfig, type Feature, runtimeConfig } from '../config';
// The public constructs (`upstash-serverless-state/constructs`), as a user's stack imports them.
import { ScheduledJob, type UpstashDatabaseSecret, UpstashFunction } from '../constructs';
import { featureSecrets, handlerEntry } from '../runtime';

/** Properties of the {@link JobsStack}. */
export interface JobsStackProps extends StackProps {
  /** The validated configuration. */
  readonly config: AppConfig;
  /** The secret of each database, by database name (from the secrets stack). */
  readonly databases: Readonly<Record<string, UpstashDatabaseSecret>>;
}

/** The queue worker drains jobs; its built-in jobs invalidate cache keys and revoke sessions. */
const QUEUE_WORKER_FEATURES: readonly Feature[] = ['queue', 'cache', 'sessions', 'locks'];
/**
 * Maintenance requeues stalled jobs, promotes due ones, prunes finished ones and reports queue
 * metrics under its lock: it has a client of the queue's and the locks' databases only (the usage
 * metrics showed it never sent the cache or the sessions a command).
 */
const MAINTENANCE_FEATURES: readonly Feature[] = ['queue', 'locks'];

/**
 * The background jobs: the queue worker and the maintenance function, each run by an
 * EventBridge Scheduler schedule, with one dead-letter queue for what neither the Scheduler nor
 * Lambda could deliver.
 */
export class JobsStack extends Stack {
  /** The function that drains the job queue. */
  readonly queueWorker: UpstashFunction;
  /** The function that requeues stalled jobs, prunes indexes and publishes metrics. */
  readonly maintenance: UpstashFunction;
  /** The function that reads every database's size for the memory alarm. */
  readonly usageProbe: UpstashFunction;
  /** Receives schedule invocations that failed every retry. */
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: JobsStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });

    const job = (
      id: string,
      entry: string,
      features: readonly Feature[],
      description: string,
      databases: readonly UpstashDatabaseSecret[] = [],
    ): UpstashFunction =>
      new UpstashFunction(this, id, {
        entry: handlerEntry(entry),
        serviceName: entry,
        description,
        keyPrefix: config.keyPrefix,
        metricsNamespace: config.metricsNamespace,
        logRetention: config.logRetentionDays,
        memorySize: 256,
        timeout: Duration.seconds(60),
        features: featureSecrets(config, props.databases, features),
        databases,
        config: runtimeConfig(config),
        // The next tick runs the job again: no Lambda retries piling up behind it, and a failed
        // run lands in the dead-letter queue where the alarm sees it.
        retryAttempts: 0,
        maxEventAge: Duration.minutes(5),
        deadLetterQueue: this.deadLetterQueue,
      });

    this.queueWorker = job(
      'QueueWorkerFunction',
      SERVICES.queueWorker,
      QUEUE_WORKER_FEATURES,
      'Drains the job queue',
    );
    this.maintenance = job(
      'MaintenanceFunction',
      SERVICES.maintenance,
      MAINTENANCE_FEATURES,
      'Requeues stalled jobs, prunes indexes, publishes metrics',
    );

    // Every database of the config, whether a feature uses it or not: each has a plan to watch.
    this.usageProbe = job(
      'UsageProbeFunction',
      SERVICES.usageProbe,
      [],
      'Reads every database size (DBSIZE, INFO memory) for the memory alarm',
      Object.values(props.databases),
    );

    new ScheduledJob(this, 'QueueWorkerSchedule', {
      jobName: SERVICES.queueWorker,
      function: this.queueWorker.function,
      schedule: config.schedules.queueWorker,
      deadLetterQueue: this.deadLetterQueue,
    });
    new ScheduledJob(this, 'MaintenanceSchedule', {
      jobName: SERVICES.maintenance,
      function: this.maintenance.function,
      schedule: config.schedules.maintenance,
      deadLetterQueue: this.deadLetterQueue,
    });
    new ScheduledJob(this, 'UsageProbeSchedule', {
      jobName: SERVICES.usageProbe,
      function: this.usageProbe.function,
      schedule: config.schedules.usageProbe,
      deadLetterQueue: this.deadLetterQueue,
    });
  }
}
