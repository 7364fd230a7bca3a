import type { Duration } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import {
  type DimensionName,
  dimensionSetOf,
  type MetricDefinition,
} from '../lambda/shared/metric-definitions';

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
