import { Duration } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Dashboard,
  type DashboardProps,
  GraphWidget,
  type IWidget,
  MathExpression,
  SingleValueWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS, SERVICES } from '../../lambda/shared/metric-definitions';
import type { BudgetConfig } from '../config';
import { type AppMetrics, apiErrorRate, DAY, PERIOD } from '../metrics';
import { DAILY_COMMANDS_ALARM_SHARE, formatSize, MEMORY_ALARM_SHARE, PRICES_READ_ON } from '../plans';
import type { UpstashFunction } from './upstash-function';

/** Properties of a {@link MonitoringDashboard}. */
export interface MonitoringDashboardProps extends DashboardProps {
  /** The app's custom metrics, with its databases and their plans. */
  readonly metrics: AppMetrics;
  /** The HTTP API. */
  readonly api: IHttpApi;
  /** Every function of the app (errors and throttles). */
  readonly functions: readonly UpstashFunction[];
  /** The api function (its duration). */
  readonly apiFunction: UpstashFunction;
  /** The jobs' dead-letter queue. */
  readonly deadLetterQueue: IQueue;
  /** The job queues a maintenance schedule maintains, one pair of widgets each. */
  readonly queues: readonly string[];
  /**
   * Drawn on the cost widget.
   * @default - no budget line
   */
  readonly budget?: BudgetConfig;
  /**
   * Adds the migration widgets (shadow mismatches, rollout share).
   * @default false
   */
  readonly migrating?: boolean;
}

/**
 * The app's dashboard, row by row: per database, billed commands per day against the plan,
 * traffic and bandwidth, and the estimated monthly cost against the budget; then cache hit rate,
 * Upstash and request latency, errors and 429s; each queue's depth and dead letters; each
 * database's data size against the plan; migration (while one runs); function errors and throttles.
 */
export class MonitoringDashboard extends Construct {
  /** The dashboard. */
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringDashboardProps) {
    super(scope, id);
    const {
      metrics,
      api,
      deadLetterQueue,
      functions,
      apiFunction,
      queues,
      budget,
      migrating,
      ...dashboardProps
    } = props;
    this.dashboard = new Dashboard(this, 'Resource', {
      defaultInterval: Duration.hours(3),
      ...dashboardProps,
    });
    this.dashboard.addWidgets(...usageWidgets(metrics, budget));
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Cache hit rate (%)',
        left: [
          new MathExpression({
            expression: 'IF(hits + misses > 0, 100 * hits / (hits + misses), 0)',
            usingMetrics: {
              hits: metrics.api(METRICS.cacheHit, 'Sum'),
              misses: metrics.api(METRICS.cacheMiss, 'Sum'),
            },
            label: 'cache hit rate %',
            period: PERIOD,
          }),
        ],
        right: [metrics.api(METRICS.fallbackServed, 'Sum', 'reads served by the fallback')],
        leftYAxis: { min: 0, max: 100 },
        width: 6,
      }),
      new GraphWidget({
        title: 'Upstash latency, api function (ms)',
        left: metrics.databases
          .filter((db) => db.services.includes(SERVICES.api))
          .flatMap((db) => ['p50', 'p95', 'p99'].map((statistic) => metrics.apiLatency(db.name, statistic))),
        width: 6,
      }),
      new GraphWidget({
        title: 'Request latency (ms)',
        left: [
          api.metricLatency({ period: PERIOD, statistic: 'p50', label: 'API p50' }),
          api.metricLatency({ period: PERIOD, statistic: 'p99', label: 'API p99' }),
          metrics.api(METRICS.latency, 'p99', 'api handler p99'),
          apiFunction.function.metricDuration({ period: PERIOD, statistic: 'p99', label: 'api fn p99' }),
        ],
        width: 6,
      }),
      new GraphWidget({
        title: 'Errors and rate limits',
        left: [
          apiErrorRate(api),
          api.metricClientError({ period: PERIOD, statistic: 'Sum', label: '4xx' }),
          api.metricServerError({ period: PERIOD, statistic: 'Sum', label: '5xx' }),
          metrics.api(METRICS.rateLimited, 'Sum', '429 rate limited'),
        ],
        width: 6,
      }),
    );
    this.dashboard.addWidgets(
      ...queues.flatMap((queue) => [
        new GraphWidget({
          title: `Job queue "${queue}"`,
          left: [
            metrics.queue(METRICS.queueDepth, queue, 'ready'),
            metrics.queue(METRICS.inFlight, queue, 'in flight'),
            metrics.queue(METRICS.delayed, queue, 'delayed'),
          ],
          width: 6,
        }),
        new GraphWidget({
          title: `Dead letters, queue "${queue}"`,
          left: [metrics.queue(METRICS.deadLetters, queue, 'jobs in the dead-letter set')],
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
      ...metrics.databases.map(
        (db) =>
          new GraphWidget({
            title: `Data size: ${db.name} (plan ${formatSize(db.plan.maxDataBytes)})`,
            left: [metrics.probe(METRICS.upstashDataBytes, db.name, `${db.name}: data size (bytes)`)],
            right: [metrics.probe(METRICS.upstashKeys, db.name, 'keys')],
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
    if (migrating) {
      // Published by the api function while a database migrates (docs/migration.md).
      this.dashboard.addWidgets(
        new GraphWidget({
          title: 'Migration: shadow mismatches and old-Redis failures',
          left: [
            metrics.api(METRICS.shadowMismatches, 'Sum', 'shadow mismatches'),
            metrics.api(METRICS.migrationLegacyFailures, 'Sum', 'old Redis failures survived'),
            metrics.api(METRICS.migrationLegacySkipped, 'Sum', 'old Redis skipped (circuit open)'),
          ],
          width: 12,
        }),
        new GraphWidget({
          title: 'Migration: reads served by Upstash (%)',
          left: [
            new MathExpression({
              expression: 'IF(up + old > 0, 100 * up / (up + old), 0)',
              usingMetrics: {
                up: metrics.api(METRICS.migrationReadsUpstash, 'Sum'),
                old: metrics.api(METRICS.migrationReadsLegacy, 'Sum'),
              },
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
        left: functions.map((fn) => fn.function.metricErrors({ period: PERIOD, label: fn.node.id })),
        width: 12,
      }),
      new GraphWidget({
        title: 'Function throttles',
        left: functions.map((fn) => fn.function.metricThrottles({ period: PERIOD, label: fn.node.id })),
        width: 12,
      }),
    );
  }
}

/**
 * The first row: per database, billed commands per day against the plan, traffic per second and
 * bandwidth per day; then the estimated monthly cost against the budget.
 */
function usageWidgets(metrics: AppMetrics, budget: BudgetConfig | undefined): IWidget[] {
  const widgets: IWidget[] = [];
  for (const db of metrics.databases) {
    const daily = db.plan.dailyCommands;
    widgets.push(
      new GraphWidget({
        title: `Billed commands per day: ${db.name} (${daily !== undefined ? `plan ${daily}/day` : `plan "${db.plan.preset}", no daily limit`})`,
        left: [metrics.billed(db.name, DAY, 'billed commands')],
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
            usingMetrics: { billed: metrics.billed(db.name, PERIOD) },
            label: 'billed commands/s',
            period: PERIOD,
          }),
          new MathExpression({
            expression: 'sent / PERIOD(sent)',
            usingMetrics: {
              sent: metrics.sumOverServices([['c', METRICS.upstashCommands]], db, PERIOD, 'sent'),
            },
            label: 'commands sent/s',
            period: PERIOD,
          }),
          new MathExpression({
            expression: 'trips / PERIOD(trips)',
            usingMetrics: {
              trips: metrics.sumOverServices([['t', METRICS.upstashRoundTrips]], db, PERIOD, 'trips'),
            },
            label: 'round trips/s',
            period: PERIOD,
          }),
        ],
        width: 6,
      }),
      new GraphWidget({
        title: `Bandwidth per day: ${db.name} (plan ${formatSize(db.plan.monthlyBandwidthBytes)}/month)`,
        left: [metrics.bandwidth(db, DAY, 'request + response bytes')],
        leftAnnotations: [{ value: db.plan.monthlyBandwidthBytes / 30, label: 'plan per month / 30' }],
        period: DAY,
        width: 6,
      }),
    );
  }
  widgets.push(
    new GraphWidget({
      title: `Estimated monthly cost ($, at the last day's rate; prices of ${PRICES_READ_ON})`,
      left: [metrics.monthlyCost()],
      ...(budget ? { leftAnnotations: [{ value: budget.monthlyUsd, label: 'budget' }] } : {}),
      leftYAxis: { min: 0 },
      period: DAY,
      width: 6,
    }),
  );
  return widgets;
}
