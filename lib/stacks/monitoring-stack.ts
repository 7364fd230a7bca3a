import { Stack, type StackProps } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  type Dashboard,
  type IMetric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { DEFAULT_QUEUE } from '../../lambda/services/queue/queue';
import { METRICS } from '../../lambda/shared/metric-definitions';
import type { AppConfig } from '../config';
import type { UpstashFunction } from '../constructs';
import { MonitoringDashboard } from '../constructs/monitoring-dashboard';
import {
  AppMetrics,
  apiErrorRate,
  DAY,
  ERROR_RATE_MIN_REQUESTS,
  type MeteredDatabase,
  PERIOD,
} from '../metrics';
import { DAILY_COMMANDS_ALARM_SHARE, formatSize, MEMORY_ALARM_SHARE, PRICES_READ_ON } from '../plans';

/** Properties of the {@link MonitoringStack}. */
export interface MonitoringStackProps extends StackProps {
  /** The validated configuration: namespace, plans, budget, alarm e-mail. */
  readonly config: AppConfig;
  /** The HTTP API (from the api stack). */
  readonly api: IHttpApi;
  /**
   * Every function of the app: each is alarmed on errors and throttles, and its Upstash usage
   * counts towards the databases it has a client of.
   */
  readonly functions: readonly UpstashFunction[];
  /** The api function, whose cache, rate-limit and latency metrics the dashboard shows. */
  readonly apiFunction: UpstashFunction;
  /** The jobs' dead-letter queue (from the jobs stack). */
  readonly deadLetterQueue: IQueue;
  /**
   * The job queues a maintenance schedule maintains: each gets its depth and dead-letter widgets
   * and a dead-letter alarm.
   *
   * @default ['default']
   */
  readonly queues?: readonly string[];
}

/** Share of API requests answered 5xx that raises the error-rate alarm, in %. */
const ERROR_RATE_PERCENT = 5;

/** When an alarm fires and what it reads; the description says what it means and what to do. */
interface AlarmSpec {
  readonly metric: IMetric;
  readonly threshold: number;
  readonly description: string;
  /** @default GREATER_THAN_OR_EQUAL_TO_THRESHOLD */
  readonly comparison?: ComparisonOperator;
  /** @default NOT_BREACHING: no data means nothing happened */
  readonly missing?: TreatMissingData;
}

/**
 * The alarms and the dashboard. Every custom metric is read through `lambda/shared/metric-
 * definitions.ts` with exactly the dimensions the functions publish it under (the contract test
 * runs the handlers and checks each alarm and widget against what they print).
 *
 * Alarms: errors and throttles of each function; API 5xx and 5xx rate; the scheduler's dead-letter
 * queue; dead-letter jobs per queue; per database, billed commands per day against the plan and
 * data size against the plan; the estimated monthly cost against the budget. With `alarmEmail`,
 * each alarm mails through an encrypted topic.
 */
export class MonitoringStack extends Stack {
  /** Every alarm, by construct id. */
  readonly alarms: readonly Alarm[];
  /** The dashboard. */
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringStackProps) {
    super(scope, id, props);
    const { config, api, deadLetterQueue } = props;
    const namespace = config.metricsNamespace;
    const queues = props.queues ?? [DEFAULT_QUEUE];
    const databases: MeteredDatabase[] = Object.entries(config.databases).map(([name, db]) => ({
      name,
      plan: db.plan,
      services: props.functions
        .filter((fn) => fn.databases.some((d) => d.databaseName === name))
        .map((fn) => fn.serviceName),
    }));
    const metrics = new AppMetrics(namespace, databases);

    const alarms: Alarm[] = [];
    const alarm = (alarmId: string, spec: AlarmSpec): void => {
      alarms.push(
        new Alarm(this, alarmId, {
          metric: spec.metric,
          alarmDescription: spec.description,
          threshold: spec.threshold,
          evaluationPeriods: 1,
          comparisonOperator: spec.comparison ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: spec.missing ?? TreatMissingData.NOT_BREACHING,
        }),
      );
    };
    for (const fn of props.functions) {
      const name = fn.node.id;
      alarm(`${name}Errors`, {
        metric: fn.function.metricErrors({ period: PERIOD, statistic: 'Sum' }),
        threshold: 1,
        description: `${name} threw or timed out. Read its log group (${fn.serviceName}) for the error: a 503 UPSTASH_UNAVAILABLE or a timeout means Upstash did not answer in time (check status.upstash.com, the function's timeout and its region's distance to the database).`,
      });
      alarm(`${name}Throttles`, {
        metric: fn.function.metricThrottles({ period: PERIOD, statistic: 'Sum' }),
        threshold: 1,
        description: `${name} was throttled: Lambda refused invocations for want of concurrency. Raise the account's concurrency quota or the function's reserved concurrency, or lower the API stage throttling (api.throttleRateLimit).`,
      });
    }
    alarm('Api5xx', {
      metric: api.metricServerError({ period: PERIOD, statistic: 'Sum' }),
      threshold: 1,
      description:
        'The HTTP API answered 5xx. Read the api function\'s "request failed" log lines (status, code, routeKey) and the API access logs: 503 UPSTASH_UNAVAILABLE means Upstash was unreachable, 500 is a bug to report.',
    });
    alarm('ApiErrorRate', {
      metric: apiErrorRate(api),
      threshold: ERROR_RATE_PERCENT,
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      description: `More than ${ERROR_RATE_PERCENT} % of API requests answered 5xx in 5 minutes (judged from ${ERROR_RATE_MIN_REQUESTS} requests on). A widespread failure rather than one bad request: check Upstash's status and the api function's "request failed" log lines for the common code.`,
    });
    alarm('DeadLetterQueueMessages', {
      metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: PERIOD,
        statistic: 'Maximum',
      }),
      threshold: 1,
      description:
        'A scheduled job could not be delivered, or its function failed every attempt. Read the message in the dead-letter queue (the body is the schedule event), fix the cause from the function logs, then purge the queue.',
    });
    for (const queue of queues) {
      alarm(`DeadLetterJobs-${queue}`, {
        metric: metrics.queue(METRICS.deadLetters, queue),
        threshold: 1,
        description: `Jobs of queue "${queue}" used up their attempts and sit in its dead-letter set. GET /stats shows how many and GET /jobs/{id} each one's lastError: fix the job type's handler or the payload, then enqueue the job again.`,
      });
    }
    for (const database of databases) {
      const { plan } = database;
      if (plan.dailyCommands !== undefined) {
        alarm(`DailyCommands-${database.name}`, {
          metric: metrics.billed(database.name, DAY),
          threshold: Math.floor(plan.dailyCommands * DAILY_COMMANDS_ALARM_SHARE),
          comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
          description: `Database "${database.name}" billed more than ${DAILY_COMMANDS_ALARM_SHARE * 100} % of its plan's ${plan.dailyCommands} commands per day over the last 24 h (plan "${plan.preset}"); past the limit Upstash refuses commands. Find what costs most (UpstashBilledCommands per service on the dashboard, billedCommands on the api log lines), cache more, or move to a larger plan (databases.${database.name}.plan in cdk.json).`,
        });
      }
      alarm(`Memory-${database.name}`, {
        metric: metrics.probe(METRICS.upstashDataBytes, database.name),
        threshold: Math.floor(plan.maxDataBytes * MEMORY_ALARM_SHARE),
        comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
        // No reading is not good news here: the probe stopped, or the database does not report memory.
        missing: TreatMissingData.MISSING,
        description: `Database "${database.name}" uses more than ${MEMORY_ALARM_SHARE * 100} % of its plan's ${formatSize(plan.maxDataBytes)} (INFO memory used_memory, read by the usage probe); a full database refuses writes (noeviction) or evicts (allkeys-lru). Shorten TTLs, delete what is unused, or move to a larger plan (databases.${database.name}.plan). INSUFFICIENT_DATA means the probe cannot read memory from this database: see its log lines.`,
      });
    }
    if (config.budget) {
      alarm('Budget', {
        metric: metrics.monthlyCost(),
        threshold: config.budget.monthlyUsd,
        comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
        description: `At the last 24 h's rate Upstash would cost more than the $${config.budget.monthlyUsd} monthly budget (estimate: per database, billed commands per day × 30 × price per 100K commands + the plan's fee; prices read ${PRICES_READ_ON}, storage and bandwidth overage not included). The cost widgets show which database, the api log lines (billedCommands) which route: cache more, batch, or raise budget.monthlyUsd.`,
      });
    }
    this.alarms = alarms;

    if (config.alarmEmail) {
      // Alarms can publish to an encrypted topic only with a customer-managed key they may use.
      const key = new Key(this, 'AlarmTopicKey', {
        enableKeyRotation: true,
        description: 'Encrypts the alarm topic',
      });
      key.addToResourcePolicy(
        new PolicyStatement({
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
          resources: ['*'],
        }),
      );
      const topic = new Topic(this, 'AlarmTopic', { enforceSSL: true, masterKey: key });
      topic.addSubscription(new EmailSubscription(config.alarmEmail));
      for (const a of alarms) a.addAlarmAction(new SnsAction(topic));
    }

    this.dashboard = new MonitoringDashboard(this, 'Dashboard', {
      metrics,
      api,
      functions: props.functions,
      apiFunction: props.apiFunction,
      deadLetterQueue,
      queues,
      ...(config.budget ? { budget: config.budget } : {}),
      migrating: Object.values(config.databases).some((db) => db.migration && db.migration.mode !== 'off'),
    }).dashboard;
  }
}
