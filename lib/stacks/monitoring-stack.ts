import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  type IWidget,
  MathExpression,
  SingleValueWidget,
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
import { DIMENSIONS, METRICS, type MetricDefinition, SERVICES } from '../../lambda/shared/metric-definitions';
import type { AppConfig } from '../config';
import type { UpstashFunction } from '../constructs/upstash-function';
import { DAY, type MeteredDatabase, publishedMetric, UsageMetrics } from '../metrics';
import { DAILY_COMMANDS_ALARM_SHARE, MEMORY_ALARM_SHARE, PRICES_READ_ON } from '../plans';

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

const PERIOD = Duration.minutes(5);
/** Below this many requests in 5 minutes the error rate is not judged (1 failure in 3 is noise). */
const ERROR_RATE_MIN_REQUESTS = 20;
/** Share of API requests answered 5xx that raises the error-rate alarm, in %. */
const ERROR_RATE_PERCENT = 5;

const mb = (bytes: number): string =>
  bytes >= 1024 ** 3
    ? `${Math.round((bytes / 1024 ** 3) * 10) / 10} GB`
    : `${Math.round(bytes / 1024 ** 2)} MB`;

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
    const usage = new UsageMetrics(namespace, databases);
    const apiMetric = (definition: MetricDefinition, statistic: string, label?: string) =>
      publishedMetric(
        namespace,
        definition,
        { [DIMENSIONS.service]: SERVICES.api },
        { statistic, period: PERIOD, ...(label ? { label } : {}) },
      );
    const queueMetric = (definition: MetricDefinition, queue: string, label?: string) =>
      publishedMetric(
        namespace,
        definition,
        { [DIMENSIONS.service]: SERVICES.maintenance, [DIMENSIONS.queue]: queue },
        { statistic: 'Maximum', period: PERIOD, ...(label ? { label } : {}) },
      );
    const dataBytes = (database: string, statistic = 'Maximum') =>
      publishedMetric(
        namespace,
        METRICS.upstashDataBytes,
        { [DIMENSIONS.service]: SERVICES.usageProbe, [DIMENSIONS.database]: database },
        { statistic, period: Duration.hours(1), label: `${database}: data size (bytes)` },
      );
    const errorRate = new MathExpression({
      expression: `IF(requests >= ${ERROR_RATE_MIN_REQUESTS}, 100 * errors / requests, 0)`,
      usingMetrics: {
        errors: api.metricServerError({ period: PERIOD, statistic: 'Sum' }),
        requests: api.metricCount({ period: PERIOD, statistic: 'Sum' }),
      },
      label: 'API 5xx (%)',
      period: PERIOD,
    });

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
      metric: errorRate,
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
        metric: queueMetric(METRICS.deadLetters, queue),
        threshold: 1,
        description: `Jobs of queue "${queue}" used up their attempts and sit in its dead-letter set. GET /stats shows how many and GET /jobs/{id} each one's lastError: fix the job type's handler or the payload, then enqueue the job again.`,
      });
    }
    for (const database of databases) {
      const { plan } = database;
      if (plan.dailyCommands !== undefined) {
        alarm(`DailyCommands-${database.name}`, {
          metric: usage.billed(database.name, DAY, `${database.name}: billed commands per day`),
          threshold: Math.floor(plan.dailyCommands * DAILY_COMMANDS_ALARM_SHARE),
          comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
          description: `Database "${database.name}" billed more than ${DAILY_COMMANDS_ALARM_SHARE * 100} % of its plan's ${plan.dailyCommands} commands per day over the last 24 h (plan "${plan.preset}"); past the limit Upstash refuses commands. Find what costs most (UpstashBilledCommands per service on the dashboard, billedCommands on the api log lines), cache more, or move to a larger plan (databases.${database.name}.plan in cdk.json).`,
        });
      }
      alarm(`Memory-${database.name}`, {
        metric: dataBytes(database.name),
        threshold: Math.floor(plan.maxDataBytes * MEMORY_ALARM_SHARE),
        comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
        // No reading is not good news here: the probe stopped, or the database does not report memory.
        missing: TreatMissingData.MISSING,
        description: `Database "${database.name}" uses more than ${MEMORY_ALARM_SHARE * 100} % of its plan's ${mb(plan.maxDataBytes)} (INFO memory used_memory, read by the usage probe); a full database refuses writes (noeviction) or evicts (allkeys-lru). Shorten TTLs, delete what is unused, or move to a larger plan (databases.${database.name}.plan). INSUFFICIENT_DATA means the probe cannot read memory from this database: see its log lines.`,
      });
    }
    if (config.budget) {
      alarm('Budget', {
        metric: usage.monthlyCost(),
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

    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    this.dashboard.addWidgets(...usageWidgets(usage, config));
    const hits = apiMetric(METRICS.cacheHit, 'Sum');
    const misses = apiMetric(METRICS.cacheMiss, 'Sum');
    const apiFn = props.apiFunction.function;
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Cache hit rate (%)',
        left: [
          new MathExpression({
            expression: 'IF(hits + misses > 0, 100 * hits / (hits + misses), 0)',
            usingMetrics: { hits, misses },
            label: 'cache hit rate %',
            period: PERIOD,
          }),
        ],
        right: [apiMetric(METRICS.fallbackServed, 'Sum', 'reads served by the fallback')],
        leftYAxis: { min: 0, max: 100 },
        width: 6,
      }),
      new GraphWidget({
        title: 'Upstash latency, api function (ms)',
        left: databases
          .filter((db) => db.services.includes(SERVICES.api))
          .flatMap((db) =>
            ['p50', 'p95', 'p99'].map((statistic) =>
              publishedMetric(
                namespace,
                METRICS.upstashLatency,
                { [DIMENSIONS.service]: SERVICES.api, [DIMENSIONS.database]: db.name },
                { statistic, period: PERIOD, label: `${db.name} ${statistic}` },
              ),
            ),
          ),
        width: 6,
      }),
      new GraphWidget({
        title: 'Request latency (ms)',
        left: [
          api.metricLatency({ period: PERIOD, statistic: 'p50', label: 'API p50' }),
          api.metricLatency({ period: PERIOD, statistic: 'p99', label: 'API p99' }),
          apiMetric(METRICS.latency, 'p99', 'api handler p99'),
          apiFn.metricDuration({ period: PERIOD, statistic: 'p99', label: 'api fn p99' }),
        ],
        width: 6,
      }),
      new GraphWidget({
        title: 'Errors and rate limits',
        left: [
          errorRate,
          api.metricClientError({ period: PERIOD, statistic: 'Sum', label: '4xx' }),
          api.metricServerError({ period: PERIOD, statistic: 'Sum', label: '5xx' }),
          apiMetric(METRICS.rateLimited, 'Sum', '429 rate limited'),
        ],
        width: 6,
      }),
    );
    this.dashboard.addWidgets(
      ...queues.flatMap((queue) => [
        new GraphWidget({
          title: `Job queue "${queue}"`,
          left: [
            queueMetric(METRICS.queueDepth, queue, 'ready'),
            queueMetric(METRICS.inFlight, queue, 'in flight'),
            queueMetric(METRICS.delayed, queue, 'delayed'),
          ],
          width: 6,
        }),
        new GraphWidget({
          title: `Dead letters, queue "${queue}"`,
          left: [queueMetric(METRICS.deadLetters, queue, 'jobs in the dead-letter set')],
          width: 6,
        }),
      ]),
      new GraphWidget({
        title: 'Undelivered schedule invocations',
        left: [
          deadLetterQueue.metricApproximateNumberOfMessagesVisible({
            period: PERIOD,
            statistic: 'Maximum',
            label: 'messages in the dead-letter queue',
          }),
        ],
        width: 6,
      }),
      new SingleValueWidget({
        title: 'Requests (5 min)',
        metrics: [api.metricCount({ period: PERIOD, statistic: 'Sum' })],
        width: 6,
      }),
    );
    this.dashboard.addWidgets(
      ...databases.map(
        (db) =>
          new GraphWidget({
            title: `Data size: ${db.name} (plan ${mb(db.plan.maxDataBytes)})`,
            left: [dataBytes(db.name)],
            right: [
              publishedMetric(
                namespace,
                METRICS.upstashKeys,
                { [DIMENSIONS.service]: SERVICES.usageProbe, [DIMENSIONS.database]: db.name },
                { statistic: 'Maximum', period: Duration.hours(1), label: 'keys' },
              ),
            ],
            leftAnnotations: [
              {
                value: db.plan.maxDataBytes * MEMORY_ALARM_SHARE,
                label: `${MEMORY_ALARM_SHARE * 100} % (alarm)`,
              },
              { value: db.plan.maxDataBytes, label: 'plan limit' },
            ],
            width: 6,
          }),
      ),
    );
    if (Object.values(config.databases).some((db) => db.migration && db.migration.mode !== 'off')) {
      // Published by the api function while a database migrates (docs/migration.md).
      const upstashReads = apiMetric(METRICS.migrationReadsUpstash, 'Sum');
      const legacyReads = apiMetric(METRICS.migrationReadsLegacy, 'Sum');
      this.dashboard.addWidgets(
        new GraphWidget({
          title: 'Migration: shadow mismatches and old-Redis failures',
          left: [
            apiMetric(METRICS.shadowMismatches, 'Sum', 'shadow mismatches'),
            apiMetric(METRICS.migrationLegacyFailures, 'Sum', 'old Redis failures survived'),
            apiMetric(METRICS.migrationLegacySkipped, 'Sum', 'old Redis skipped (circuit open)'),
          ],
          width: 12,
        }),
        new GraphWidget({
          title: 'Migration: reads served by Upstash (%)',
          left: [
            new MathExpression({
              expression: 'IF(up + old > 0, 100 * up / (up + old), 0)',
              usingMetrics: { up: upstashReads, old: legacyReads },
              label: 'rollout share %',
              period: PERIOD,
            }),
          ],
          leftYAxis: { min: 0, max: 100 },
          width: 12,
        }),
      );
    }
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Function errors',
        left: props.functions.map((fn) => fn.function.metricErrors({ period: PERIOD, label: fn.node.id })),
        width: 12,
      }),
      new GraphWidget({
        title: 'Function throttles',
        left: props.functions.map((fn) => fn.function.metricThrottles({ period: PERIOD, label: fn.node.id })),
        width: 12,
      }),
    );
  }
}

/**
 * The first row: per database, billed commands per day against the plan, traffic per second and
 * bandwidth per day; then the estimated monthly cost against the budget.
 */
function usageWidgets(usage: UsageMetrics, config: AppConfig): IWidget[] {
  const widgets: IWidget[] = [];
  for (const db of usage.databases) {
    const daily = db.plan.dailyCommands;
    widgets.push(
      new GraphWidget({
        title: `Billed commands per day: ${db.name} (${daily !== undefined ? `plan ${daily}/day` : `plan "${db.plan.preset}", no daily limit`})`,
        left: [usage.billed(db.name, DAY, 'billed commands')],
        ...(daily !== undefined
          ? {
              leftAnnotations: [
                {
                  value: daily * DAILY_COMMANDS_ALARM_SHARE,
                  label: `${DAILY_COMMANDS_ALARM_SHARE * 100} % (alarm)`,
                },
                { value: daily, label: 'plan limit' },
              ],
            }
          : {}),
        period: DAY,
        width: 6,
      }),
      new GraphWidget({
        title: `Upstash traffic: ${db.name} (per second)`,
        left: [
          new MathExpression({
            expression: 'billed / PERIOD(billed)',
            usingMetrics: { billed: usage.billed(db.name, PERIOD) },
            label: 'billed commands/s',
            period: PERIOD,
          }),
          new MathExpression({
            expression: 'sent / PERIOD(sent)',
            usingMetrics: { sent: usage.sumOverServices(METRICS.upstashCommands, db, PERIOD, 'sent', 'c') },
            label: 'commands sent/s',
            period: PERIOD,
          }),
          new MathExpression({
            expression: 'trips / PERIOD(trips)',
            usingMetrics: {
              trips: usage.sumOverServices(METRICS.upstashRoundTrips, db, PERIOD, 'trips', 't'),
            },
            label: 'round trips/s',
            period: PERIOD,
          }),
        ],
        width: 6,
      }),
      new GraphWidget({
        title: `Bandwidth per day: ${db.name} (plan ${mb(db.plan.monthlyBandwidthBytes)}/month)`,
        left: [usage.bandwidth(db, DAY, 'request + response bytes')],
        leftAnnotations: [{ value: db.plan.monthlyBandwidthBytes / 30, label: 'plan per month / 30' }],
        period: DAY,
        width: 6,
      }),
    );
  }
  widgets.push(
    new GraphWidget({
      title: `Estimated monthly cost ($, at the last day's rate; prices of ${PRICES_READ_ON})`,
      left: [usage.monthlyCost()],
      ...(config.budget ? { leftAnnotations: [{ value: config.budget.monthlyUsd, label: 'budget' }] } : {}),
      leftYAxis: { min: 0 },
      period: DAY,
      width: 6,
    }),
  );
  return widgets;
}
