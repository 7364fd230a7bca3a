import { Duration } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { type IMetric, MathExpression, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import {
  DIMENSIONS,
  type DimensionName,
  dimensionSetOf,
  METRICS,
  type MetricDefinition,
  SERVICES,
} from '../lambda/shared/metric-definitions';
import { DAYS_PER_MONTH, type UpstashPlan } from './plans';

/** How a widget or alarm aggregates a metric. */
export interface MetricReadOptions {
  readonly statistic: string;
  readonly period: Duration;
  /** @default - CloudWatch's label (the metric name) */
  readonly label?: string;
}

/**
 * The CloudWatch metric the functions publish for `definition` under exactly these dimension
 * values (the `service` dimension included when the set has one), as alarms and widgets read it.
 * The dimensions must be one of the definition's sets, checked at synth time: an alarm on any
 * other set would read a metric nobody publishes.
 *
 * @throws Error when `dimensions` is not one of the definition's dimension sets
 */
export function publishedMetric(
  namespace: string,
  definition: MetricDefinition,
  dimensions: Readonly<Partial<Record<DimensionName, string>>>,
  options: MetricReadOptions,
): Metric {
  dimensionSetOf(definition, Object.keys(dimensions));
  return new Metric({
    namespace,
    metricName: definition.name,
    dimensionsMap: dimensions as Record<string, string>,
    statistic: options.statistic,
    period: options.period,
    ...(options.label !== undefined ? { label: options.label } : {}),
  });
}

/** One database as the usage metrics see it: its name, plan and the services that use it. */
export interface MeteredDatabase {
  readonly name: string;
  readonly plan: UpstashPlan;
  /** The `service` of every function with a client of this database. */
  readonly services: readonly string[];
}

/** A day, the period of every plan and cost figure (plans count per day and month). */
export const DAY = Duration.days(1);

/** The period of the operational alarms and widgets. */
export const PERIOD = Duration.minutes(5);

/** Below this many requests in 5 minutes the error rate is not judged (1 failure in 3 is noise). */
export const ERROR_RATE_MIN_REQUESTS = 20;

/** The share of API requests answered 5xx, in %, per 5 minutes (0 below 20 requests). */
export function apiErrorRate(api: IHttpApi): IMetric {
  return new MathExpression({
    expression: `IF(requests >= ${ERROR_RATE_MIN_REQUESTS}, 100 * errors / requests, 0)`,
    usingMetrics: {
      errors: api.metricServerError({ period: PERIOD, statistic: 'Sum' }),
      requests: api.metricCount({ period: PERIOD, statistic: 'Sum' }),
    },
    label: 'API 5xx (%)',
    period: PERIOD,
  });
}

/** Metric-math ids must start with a lower-case letter and hold letters, digits and `_`. */
const mathId = (prefix: string, index: number): string => `${prefix}${index}`;

const labelled = (label: string | undefined) => (label !== undefined ? { label } : {});

/**
 * The app's custom metrics as the monitoring stack reads them, each with exactly the dimensions
 * its functions publish it under: what the alarms watch and the dashboard draws.
 */
export class AppMetrics {
  constructor(
    private readonly namespace: string,
    readonly databases: readonly MeteredDatabase[],
  ) {}

  /** A metric of the api function (`{service}`), per 5 minutes. */
  api(definition: MetricDefinition, statistic: string, label?: string): Metric {
    return publishedMetric(
      this.namespace,
      definition,
      { [DIMENSIONS.service]: SERVICES.api },
      { statistic, period: PERIOD, ...labelled(label) },
    );
  }

  /** A figure maintenance publishes per queue (`{service, queue}`), its Maximum per 5 minutes. */
  queue(definition: MetricDefinition, queue: string, label?: string): Metric {
    return publishedMetric(
      this.namespace,
      definition,
      { [DIMENSIONS.service]: SERVICES.maintenance, [DIMENSIONS.queue]: queue },
      { statistic: 'Maximum', period: PERIOD, ...labelled(label) },
    );
  }

  /** What the usage probe read of one database, its Maximum per hour (the probe runs every 15 min). */
  probe(definition: MetricDefinition, database: string, label?: string): Metric {
    return publishedMetric(
      this.namespace,
      definition,
      { [DIMENSIONS.service]: SERVICES.usageProbe, [DIMENSIONS.database]: database },
      { statistic: 'Maximum', period: Duration.hours(1), ...labelled(label) },
    );
  }

  /** The api function's Upstash latency to one database (one value per round trip). */
  apiLatency(database: string, statistic: string): Metric {
    return publishedMetric(
      this.namespace,
      METRICS.upstashLatency,
      { [DIMENSIONS.service]: SERVICES.api, [DIMENSIONS.database]: database },
      { statistic, period: PERIOD, label: `${database} ${statistic}` },
    );
  }

  /** Billed commands of one database, every function together (the `{database}` set). */
  billed(database: string, period: Duration, label?: string): Metric {
    return publishedMetric(
      this.namespace,
      METRICS.upstashBilledCommands,
      { [DIMENSIONS.database]: database },
      { statistic: 'Sum', period, ...labelled(label) },
    );
  }

  /**
   * Metrics published per `{service, database}`, summed over the database's services (and over the
   * definitions, when several). Each definition comes with the letter its metric-math ids start
   * with, which keeps the ids of two such sums on one widget apart.
   */
  sumOverServices(
    definitions: ReadonlyArray<readonly [idPrefix: string, definition: MetricDefinition]>,
    database: MeteredDatabase,
    period: Duration,
    label: string,
  ): IMetric {
    const usingMetrics: Record<string, IMetric> = {};
    database.services.forEach((service, i) => {
      for (const [prefix, definition] of definitions) {
        usingMetrics[mathId(prefix, i)] = publishedMetric(
          this.namespace,
          definition,
          { [DIMENSIONS.service]: service, [DIMENSIONS.database]: database.name },
          { statistic: 'Sum', period },
        );
      }
    });
    return new MathExpression({
      expression: `SUM([${Object.keys(usingMetrics).join(', ')}])`,
      usingMetrics,
      label,
      period,
    });
  }

  /** Bytes to and from one database per `period`, every function together. */
  bandwidth(database: MeteredDatabase, period: Duration, label: string): IMetric {
    return this.sumOverServices(
      [
        ['q', METRICS.upstashRequestBytes],
        ['r', METRICS.upstashResponseBytes],
      ],
      database,
      period,
      label,
    );
  }

  /**
   * The estimated monthly cost in dollars at the rate of the last day: per database, fee +
   * billed commands per day × 30 × price per 100,000 (lib/plans.ts `monthlyCostUsd`), summed.
   */
  monthlyCost(label = 'estimated monthly cost ($)'): IMetric {
    const usingMetrics: Record<string, IMetric> = {};
    const terms: string[] = [];
    let fees = 0;
    this.databases.forEach((database, i) => {
      const id = mathId('b', i);
      usingMetrics[id] = this.billed(database.name, DAY);
      // Spelled out rather than pre-multiplied: 30 × 0.2 is 6.000000000000001 in floating point.
      terms.push(`FILL(${id}, 0) * ${DAYS_PER_MONTH} * ${database.plan.pricePer100kCommands} / 100000`);
      fees += database.plan.monthlyFeeUsd;
    });
    const expression = [...terms, String(fees)].join(' + ');
    return new MathExpression({ expression, usingMetrics, label, period: DAY });
  }
}
