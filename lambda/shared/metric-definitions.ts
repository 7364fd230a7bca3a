/**
 * Every custom metric of the app, defined once: its name, unit and exact dimension sets. The
 * handlers publish through these definitions (`lambda/shared/metrics.ts`) and the monitoring stack
 * builds its alarms and widgets from them (`lib/metrics.ts`), so neither side spells a metric
 * name or a dimension itself. CloudWatch treats one name under two dimension sets as two
 * metrics: an alarm on `{service}` never sees data published under `{service, queue}`.
 *
 * Plain data with no imports: it is bundled into the functions and read by `cdk synth`.
 */

/** The default CloudWatch namespace (`metricsNamespace` in the configuration). */
export const DEFAULT_METRICS_NAMESPACE = 'UpstashState';

/**
 * The `service` dimension of each function: its `POWERTOOLS_SERVICE_NAME`, set by the stacks and
 * used by the handlers as their default.
 */
export const SERVICES = {
  api: 'api',
  authorizer: 'authorizer',
  queueWorker: 'queue-worker',
  maintenance: 'maintenance',
  usageProbe: 'usage-probe',
} as const;

/** One of {@link SERVICES}. */
export type ServiceName = (typeof SERVICES)[keyof typeof SERVICES];

/** The dimension names the app uses. */
export const DIMENSIONS = {
  service: 'service',
  database: 'database',
  queue: 'queue',
  priority: 'priority',
} as const;

/** One of {@link DIMENSIONS}. */
export type DimensionName = (typeof DIMENSIONS)[keyof typeof DIMENSIONS];

/** CloudWatch units the app publishes in (the EMF spelling). */
export type MetricUnitName = 'Count' | 'Milliseconds' | 'Bytes';

/** One custom metric. */
export interface MetricDefinition {
  readonly name: string;
  readonly unit: MetricUnitName;
  /**
   * Every dimension set it is published under, each exactly (order does not matter to
   * CloudWatch). A value is published once per set it is meant for: a gauge is never summed
   * across sets.
   */
  readonly dimensionSets: readonly (readonly DimensionName[])[];
  /** The functions that publish it. */
  readonly publishedBy: readonly ServiceName[];
  /** What one value means. */
  readonly description: string;
}

const { service, database, queue, priority } = DIMENSIONS;
const UPSTASH_CLIENTS: readonly ServiceName[] = [
  SERVICES.api,
  SERVICES.queueWorker,
  SERVICES.maintenance,
  SERVICES.usageProbe,
];

/** Every custom metric, by the name the code uses for it. */
export const METRICS = {
  cacheHit: {
    name: 'CacheHit',
    unit: 'Count',
    dimensionSets: [[service]],
    publishedBy: [SERVICES.api],
    description: 'a cache read that found its key',
  },
  cacheMiss: {
    name: 'CacheMiss',
    unit: 'Count',
    dimensionSets: [[service]],
    publishedBy: [SERVICES.api],
    description: 'a cache read that did not find its key',
  },
  fallbackServed: {
    name: 'FallbackServed',
    unit: 'Count',
    dimensionSets: [[service]],
    publishedBy: [SERVICES.api],
    description: 'a cache read served by the in-container fallback while Upstash was unreachable',
  },
  rateLimited: {
    name: 'RateLimited',
    unit: 'Count',
    dimensionSets: [[service]],
    publishedBy: [SERVICES.api],
    description: 'a request refused with 429 by the api rate limit',
  },
  latency: {
    name: 'Latency',
    unit: 'Milliseconds',
    dimensionSets: [[service]],
    publishedBy: [SERVICES.api],
    description: 'time the api function spent on one request',
  },
  shadowMismatches: {
    name: 'ShadowMismatches',
    unit: 'Count',
    dimensionSets: [[service]],
    publishedBy: [SERVICES.api],
    description: 'shadow reads where Upstash and the old Redis disagreed (migration)',
  },
  migrationReadsUpstash: {
    name: 'MigrationReadsUpstash',
    unit: 'Count',
    dimensionSets: [[service]],
    publishedBy: [SERVICES.api],
    description: 'reads a migrating database served from Upstash',
  },
  migrationReadsLegacy: {
    name: 'MigrationReadsLegacy',
    unit: 'Count',
    dimensionSets: [[service]],
    publishedBy: [SERVICES.api],
    description: 'reads a migrating database served from the old Redis',
  },
  migrationLegacyFailures: {
    name: 'MigrationLegacyFailures',
    unit: 'Count',
    dimensionSets: [[service]],
    publishedBy: [SERVICES.api],
    description: 'old-Redis failures a request survived (migration)',
  },
  migrationLegacySkipped: {
    name: 'MigrationLegacySkipped',
    unit: 'Count',
    dimensionSets: [[service]],
    publishedBy: [SERVICES.api],
    description: 'commands not sent to the old Redis while its circuit was open (migration)',
  },
  queueDepth: {
    name: 'QueueDepth',
    unit: 'Count',
    dimensionSets: [
      [service, queue],
      [service, queue, priority],
    ],
    publishedBy: [SERVICES.maintenance],
    description: 'jobs ready to run: per queue, and per queue and priority',
  },
  inFlight: {
    name: 'InFlight',
    unit: 'Count',
    dimensionSets: [[service, queue]],
    publishedBy: [SERVICES.maintenance],
    description: 'jobs leased by a worker',
  },
  delayed: {
    name: 'Delayed',
    unit: 'Count',
    dimensionSets: [[service, queue]],
    publishedBy: [SERVICES.maintenance],
    description: 'jobs waiting for their delay or retry backoff',
  },
  deadLetters: {
    name: 'DeadLetters',
    unit: 'Count',
    dimensionSets: [[service, queue]],
    publishedBy: [SERVICES.maintenance],
    description: 'jobs that used up their attempts and sit in the dead-letter set',
  },
  jobsRequeued: {
    name: 'JobsRequeued',
    unit: 'Count',
    dimensionSets: [[service, queue]],
    publishedBy: [SERVICES.maintenance],
    description: 'jobs whose lease expired and that maintenance put back (their worker died)',
  },
  upstashCommands: {
    name: 'UpstashCommands',
    unit: 'Count',
    dimensionSets: [[service, database]],
    publishedBy: UPSTASH_CLIENTS,
    description: 'top-level commands sent to the database',
  },
  upstashBilledCommands: {
    name: 'UpstashBilledCommands',
    unit: 'Count',
    // Also per database alone: the plan and budget alarms read one metric per database instead
    // of a sum over functions (an alarm's math may read 10 metrics at most).
    dimensionSets: [[service, database], [database]],
    publishedBy: UPSTASH_CLIENTS,
    description: 'what Upstash bills: each command, plus each command a script ran inside',
  },
  upstashRequestBytes: {
    name: 'UpstashRequestBytes',
    unit: 'Bytes',
    dimensionSets: [[service, database]],
    publishedBy: UPSTASH_CLIENTS,
    description: 'request bodies sent to the database',
  },
  upstashResponseBytes: {
    name: 'UpstashResponseBytes',
    unit: 'Bytes',
    dimensionSets: [[service, database]],
    publishedBy: UPSTASH_CLIENTS,
    description: 'response bodies received from the database',
  },
  upstashRoundTrips: {
    name: 'UpstashRoundTrips',
    unit: 'Count',
    dimensionSets: [[service, database]],
    publishedBy: UPSTASH_CLIENTS,
    description: 'HTTP requests to the database (a pipeline is one)',
  },
  upstashLatency: {
    name: 'UpstashLatency',
    unit: 'Milliseconds',
    dimensionSets: [[service, database]],
    publishedBy: UPSTASH_CLIENTS,
    description: 'time of one round trip to the database, one value per round trip',
  },
  upstashDataBytes: {
    name: 'UpstashDataBytes',
    unit: 'Bytes',
    dimensionSets: [[service, database]],
    publishedBy: [SERVICES.usageProbe],
    description: 'memory the database reports in use (INFO memory used_memory), read by the usage probe',
  },
  upstashKeys: {
    name: 'UpstashKeys',
    unit: 'Count',
    dimensionSets: [[service, database]],
    publishedBy: [SERVICES.usageProbe],
    description: 'keys in the database (DBSIZE), read by the usage probe',
  },
} as const satisfies Record<string, MetricDefinition>;

/** The name the code uses for a metric. */
export type MetricId = keyof typeof METRICS;

/**
 * The dimension set of `definition` that `dimensions` (service included or not) names exactly.
 *
 * @throws Error when no declared set matches: the metric would land where nothing reads it
 */
export function dimensionSetOf(
  definition: MetricDefinition,
  names: readonly string[],
): readonly DimensionName[] {
  const wanted = [...new Set(names)].sort().join(',');
  const set = definition.dimensionSets.find((s) => [...s].sort().join(',') === wanted);
  if (!set) {
    const declared = definition.dimensionSets.map((s) => `{${s.join(', ')}}`).join(' or ');
    throw new Error(`metric ${definition.name} is published under ${declared}, not {${names.join(', ')}}`);
  }
  return set;
}
