import { Metrics, type MetricUnit } from '@aws-lambda-powertools/metrics';

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

import {
  DEFAULT_METRICS_NAMESPACE,
  DIMENSIONS,
  dimensionSetOf,
  METRICS,
  type MetricDefinition,
  type ServiceName,
} from './metric-definitions';
import type { InvocationUsage } from './usage';

/** Options of {@link MetricsPublisher}. */
export interface MetricsPublisherOptions {
  /**
   * The `service` dimension.
   * @default - `POWERTOOLS_SERVICE_NAME`, else `defaultService`
   */
  readonly service?: string;
  /** The function's own service name, when the environment names none. */
  readonly defaultService: ServiceName;
  /**
   * @default - `POWERTOOLS_METRICS_NAMESPACE`, else `UpstashState`
   */
  readonly namespace?: string;
}

/** EMF allows 100 values per metric in one document; Powertools flushes (and drops the dimensions) at 100. */
const MAX_VALUES = 99;

interface Group {
  readonly dimensions: Readonly<Record<string, string>>;
  readonly withService: boolean;
  readonly values: Map<MetricDefinition, number[]>;
}

/**
 * Publishes the metrics of `metric-definitions.ts` as CloudWatch EMF through Powertools Metrics:
 * values are buffered per dimension set and written by {@link publish}, one EMF document per
 * set of dimension values (EMF gives a document one value per dimension). A value whose
 * dimensions match none of its metric's declared sets is refused at once.
 *
 * @example
 * const metrics = new MetricsPublisher({ defaultService: SERVICES.maintenance });
 * metrics.add(METRICS.deadLetters, 3, { queue: 'default' });
 * metrics.publish(); // before the handler returns: Lambda freezes the container after
 */
export class MetricsPublisher {
  readonly service: string;
  readonly namespace: string;
  readonly #withService: Metrics;
  readonly #withoutService: Metrics;
  readonly #groups = new Map<string, Group>();

  constructor(options: MetricsPublisherOptions) {
    this.service = options.service ?? (process.env.POWERTOOLS_SERVICE_NAME || options.defaultService);
    this.namespace =
      options.namespace ?? (process.env.POWERTOOLS_METRICS_NAMESPACE || DEFAULT_METRICS_NAMESPACE);
    this.#withService = new Metrics({ namespace: this.namespace, serviceName: this.service });
    this.#withoutService = new Metrics({ namespace: this.namespace, serviceName: this.service });
    this.#withoutService.clearDefaultDimensions();
  }

  /**
   * Buffers one value. `dimensions` are the metric's dimensions other than `service`, which is
   * added unless `acrossServices` asks for the metric's set without it (a total every function
   * adds to, e.g. billed commands per database).
   *
   * @throws Error when the dimensions are not exactly one of the metric's sets
   */
  add(
    definition: MetricDefinition,
    value: number,
    dimensions: Readonly<Record<string, string>> = {},
    options: { readonly acrossServices?: boolean } = {},
  ): this {
    const withService = !options.acrossServices;
    const names = Object.keys(dimensions);
    dimensionSetOf(definition, withService ? [...names, DIMENSIONS.service] : names);
    // Code-unit order, not localeCompare: the names are ASCII, and the first localeCompare of a
    // process loads ICU's collation data (about 5 ms of a cold start, measured by the bench).
    const sorted = Object.fromEntries(
      Object.entries(dimensions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    const key = `${withService ? 's' : '-'}${JSON.stringify(sorted)}`;
    let group = this.#groups.get(key);
    if (!group) {
      group = { dimensions: sorted, withService, values: new Map() };
      this.#groups.set(key, group);
    }
    const values = group.values.get(definition) ?? [];
    values.push(value);
    group.values.set(definition, values);
    return this;
  }

  /** Adds what an invocation's clients counted, per database (see `usage.ts`). */
  addUsage(usage: InvocationUsage): this {
    for (const [database, counts] of usage.byDatabase()) {
      const dims = { [DIMENSIONS.database]: database };
      this.add(METRICS.upstashCommands, counts.commands, dims);
      this.add(METRICS.upstashBilledCommands, counts.billed, dims);
      this.add(METRICS.upstashBilledCommands, counts.billed, dims, { acrossServices: true });
      this.add(METRICS.upstashRequestBytes, counts.requestBytes, dims);
      this.add(METRICS.upstashResponseBytes, counts.responseBytes, dims);
      this.add(METRICS.upstashRoundTrips, counts.roundTrips, dims);
      for (const ms of counts.latenciesMs) this.add(METRICS.upstashLatency, ms, dims);
    }
    return this;
  }

  /** Writes every buffered value, one EMF line per set of dimension values; a no-op when empty. */
  publish(): void {
    for (const group of this.#groups.values()) {
      const metrics = group.withService ? this.#withService : this.#withoutService;
      let offset = 0;
      for (;;) {
        let stored = 0;
        for (const [definition, values] of group.values) {
          for (const value of values.slice(offset, offset + MAX_VALUES)) {
            metrics.addMetric(definition.name, definition.unit as Unit, value);
            stored += 1;
          }
        }
        if (stored === 0) break;
        for (const [name, value] of Object.entries(group.dimensions)) metrics.addDimension(name, value);
        metrics.publishStoredMetrics();
        offset += MAX_VALUES;
      }
    }
    this.#groups.clear();
  }
}
