import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  type Metric,
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
import { METRICS, type MetricDefinition, SERVICES } from '../../lambda/shared/metric-definitions';
import type { AppConfig } from '../config';
import type { UpstashFunction } from '../constructs/upstash-function';
import { publishedMetric } from '../metrics';

/** Properties of the {@link MonitoringStack}. */
export interface MonitoringStackProps extends StackProps {
  /** The validated configuration. */
  readonly config: AppConfig;
  /** The HTTP API (from the api stack). */
  readonly api: IHttpApi;
  /** Every function of the app, each alarmed on errors and throttles. */
  readonly functions: readonly UpstashFunction[];
  /** The api function, whose cache, rate-limit and latency metrics the dashboard shows. */
  readonly apiFunction: UpstashFunction;
  /** The jobs' dead-letter queue (from the jobs stack). */
  readonly deadLetterQueue: IQueue;
}

const PERIOD = Duration.minutes(5);

/**
 * Alarms (function errors and throttles, API 5xx, dead letters) and one dashboard (cache hit
 * rate, latency, 429s, queue depth, dead letters).
 *
 * The custom metrics are the EMF metrics the functions publish through Powertools Metrics, in
 * the configured namespace with its default `service` dimension (`POWERTOOLS_SERVICE_NAME`):
 * `CacheHit`, `CacheMiss` and `RateLimited` from `api`; `QueueDepth` and `DeadLetters` from
 * `maintenance`.
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
    const custom = (definition: MetricDefinition, statistic: string): Metric =>
      publishedMetric(namespace, definition, { service: SERVICES.api }, { statistic, period: PERIOD });
    const perQueue = (definition: MetricDefinition, statistic: string): Metric =>
      publishedMetric(
        namespace,
        definition,
        { service: SERVICES.maintenance, queue: DEFAULT_QUEUE },
        { statistic, period: PERIOD },
      );

    const alarms: Alarm[] = [];
    const alarm = (alarmId: string, metric: IMetric, description: string): void => {
      alarms.push(
        new Alarm(this, alarmId, {
          metric,
          alarmDescription: description,
          threshold: 1,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    };
    for (const fn of props.functions) {
      const name = fn.node.id;
      alarm(
        `${name}Errors`,
        fn.function.metricErrors({ period: PERIOD, statistic: 'Sum' }),
        `${name} threw or timed out`,
      );
      alarm(
        `${name}Throttles`,
        fn.function.metricThrottles({ period: PERIOD, statistic: 'Sum' }),
        `${name} was throttled`,
      );
    }
    alarm('Api5xx', api.metricServerError({ period: PERIOD, statistic: 'Sum' }), 'The HTTP API answered 5xx');
    alarm(
      'DeadLetterQueueMessages',
      deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' }),
      'A scheduled job could not be delivered or failed: read the dead-letter queue',
    );
    alarm(
      'DeadLetterJobs',
      perQueue(METRICS.deadLetters, 'Maximum'),
      'Jobs reached their max attempts and sit in the job dead-letter list (GET /stats)',
    );
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

    const hits = custom(METRICS.cacheHit, 'Sum');
    const misses = custom(METRICS.cacheMiss, 'Sum');
    const hitRate = new MathExpression({
      expression: 'IF(hits + misses > 0, 100 * hits / (hits + misses), 0)',
      usingMetrics: { hits, misses },
      label: 'cache hit rate %',
      period: PERIOD,
    });
    const apiFn = props.apiFunction.function;
    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Cache hit rate (%)',
        left: [hitRate],
        leftYAxis: { min: 0, max: 100 },
        width: 8,
      }),
      new GraphWidget({
        title: 'Latency (ms)',
        left: [
          api.metricLatency({ period: PERIOD, statistic: 'p50', label: 'API p50' }),
          api.metricLatency({ period: PERIOD, statistic: 'p99', label: 'API p99' }),
          apiFn.metricDuration({ period: PERIOD, statistic: 'p99', label: 'api fn p99' }),
        ],
        width: 8,
      }),
      new GraphWidget({
        title: 'Rate limited (429) and errors',
        left: [
          custom(METRICS.rateLimited, 'Sum').with({ label: '429 rate limited' }),
          api.metricClientError({ period: PERIOD, statistic: 'Sum', label: '4xx' }),
          api.metricServerError({ period: PERIOD, statistic: 'Sum', label: '5xx' }),
        ],
        width: 8,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Job queue depth',
        left: [perQueue(METRICS.queueDepth, 'Maximum')],
        width: 8,
      }),
      new GraphWidget({
        title: 'Dead letters',
        left: [
          perQueue(METRICS.deadLetters, 'Maximum').with({ label: 'jobs in dead-letter list' }),
          deadLetterQueue.metricApproximateNumberOfMessagesVisible({
            period: PERIOD,
            statistic: 'Maximum',
            label: 'undelivered schedule invocations',
          }),
        ],
        width: 8,
      }),
      new SingleValueWidget({
        title: 'Requests (5 min)',
        metrics: [api.metricCount({ period: PERIOD, statistic: 'Sum' })],
        width: 8,
      }),
    );
    if (Object.values(config.databases).some((db) => db.migration && db.migration.mode !== 'off')) {
      // Published by the api function while a database migrates (docs/migration.md).
      const upstashReads = custom(METRICS.migrationReadsUpstash, 'Sum');
      const legacyReads = custom(METRICS.migrationReadsLegacy, 'Sum');
      this.dashboard.addWidgets(
        new GraphWidget({
          title: 'Migration: shadow mismatches and old-Redis failures',
          left: [
            custom(METRICS.shadowMismatches, 'Sum').with({ label: 'shadow mismatches' }),
            custom(METRICS.migrationLegacyFailures, 'Sum').with({ label: 'old Redis failures survived' }),
            custom(METRICS.migrationLegacySkipped, 'Sum').with({
              label: 'old Redis skipped (circuit open)',
            }),
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
