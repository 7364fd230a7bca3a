import type { Template } from 'aws-cdk-lib/assertions';

/**
 * Both sides of the metrics contract, as data: what the handlers printed as CloudWatch EMF, and
 * what the synthesized alarms and dashboard read. A metric is its namespace, its name and its
 * exact dimension map: CloudWatch treats `{service}` and `{service, queue}` as two metrics.
 */

/** One metric as CloudWatch stores it. */
export interface MetricIdentity {
  readonly namespace: string;
  readonly name: string;
  /** Dimension name -> value. Values the template takes from other resources stay tokens. */
  readonly dimensions: Readonly<Record<string, unknown>>;
}

/** A metric something in the template reads, and what reads it. */
export interface ReadMetric extends MetricIdentity {
  /** `alarm <logical id>` or `widget "<title>"`. */
  readonly reader: string;
}

/** A stable text for a metric identity, dimensions sorted by name. */
export function metricKey(metric: MetricIdentity): string {
  const dims = Object.keys(metric.dimensions)
    .sort()
    .map(
      (name) =>
        `${name}=${typeof metric.dimensions[name] === 'string' ? metric.dimensions[name] : JSON.stringify(metric.dimensions[name])}`,
    );
  return `${metric.namespace} ${metric.name} {${dims.join(', ')}}`;
}

interface EmfDocument {
  readonly _aws: {
    readonly CloudWatchMetrics: ReadonlyArray<{
      readonly Namespace: string;
      readonly Dimensions: ReadonlyArray<readonly string[]>;
      readonly Metrics: ReadonlyArray<{ readonly Name: string }>;
    }>;
  };
  readonly [key: string]: unknown;
}

/** The EMF documents among printed lines (one JSON object per line, with an `_aws` member). */
export function emfDocuments(text: string): EmfDocument[] {
  const docs: EmfDocument[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('"_aws"')) continue;
    const parsed = JSON.parse(line) as Partial<EmfDocument>;
    if (parsed._aws && Array.isArray(parsed._aws.CloudWatchMetrics)) docs.push(parsed as EmfDocument);
  }
  return docs;
}

/**
 * Every metric the EMF documents in `text` publish: one per metric name and dimension set, the
 * dimension values read from the document's own members, as CloudWatch extracts them.
 */
export function emittedMetrics(text: string): MetricIdentity[] {
  const found = new Map<string, MetricIdentity>();
  for (const doc of emfDocuments(text)) {
    for (const directive of doc._aws.CloudWatchMetrics) {
      for (const set of directive.Dimensions) {
        const dimensions = Object.fromEntries(set.map((name) => [name, doc[name]]));
        for (const metric of directive.Metrics) {
          const identity = { namespace: directive.Namespace, name: metric.Name, dimensions };
          found.set(metricKey(identity), identity);
        }
      }
    }
  }
  return [...found.values()];
}

/** `{"Name": n, "Value": v}` pairs of an alarm or MetricStat as a map. */
const dimensionMap = (pairs: unknown): Record<string, unknown> =>
  Object.fromEntries(
    ((pairs as Array<{ Name: string; Value: unknown }> | undefined) ?? []).map((d) => [d.Name, d.Value]),
  );

/** Every metric each alarm of the template reads: a single metric, or each MetricStat of its math. */
export function alarmMetrics(template: Template): ReadMetric[] {
  const read: ReadMetric[] = [];
  for (const [id, alarm] of Object.entries(template.findResources('AWS::CloudWatch::Alarm'))) {
    const p = alarm.Properties as Record<string, unknown>;
    const reader = `alarm ${id}`;
    if (typeof p.MetricName === 'string') {
      read.push({
        reader,
        namespace: p.Namespace as string,
        name: p.MetricName,
        dimensions: dimensionMap(p.Dimensions),
      });
    }
    for (const query of (p.Metrics as Array<Record<string, unknown>> | undefined) ?? []) {
      const stat = query.MetricStat as { Metric: Record<string, unknown> } | undefined;
      if (!stat) continue;
      read.push({
        reader,
        namespace: stat.Metric.Namespace as string,
        name: stat.Metric.MetricName as string,
        dimensions: dimensionMap(stat.Metric.Dimensions),
      });
    }
  }
  return read;
}

/**
 * The dashboard body with every CloudFormation token (a `Ref`, `Fn::GetAtt`, `Fn::ImportValue`
 * inside its `Fn::Join`) replaced by a JSON rendering of the token, so it parses as JSON.
 */
export function dashboardBody(template: Template): { widgets: Array<Record<string, unknown>> } {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  if (dashboards.length !== 1) throw new Error(`expected one dashboard, found ${dashboards.length}`);
  const body = dashboards[0]?.Properties.DashboardBody as unknown;
  let text: string;
  if (typeof body === 'string') {
    text = body;
  } else {
    const join = (body as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
    // A token sits inside a JSON string: its rendering is escaped to stay one string there.
    text = join[1]
      .map((part) => (typeof part === 'string' ? part : JSON.stringify(JSON.stringify(part)).slice(1, -1)))
      .join(join[0]);
  }
  return JSON.parse(text) as { widgets: Array<Record<string, unknown>> };
}

/** A token rendered by {@link dashboardBody} back to its CloudFormation object. */
const untoken = (value: unknown): unknown => {
  if (typeof value !== 'string' || !value.startsWith('{')) return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
};

/**
 * Every metric each dashboard widget reads. CDK renders a graph's metrics as
 * `[namespace, name, dim1, value1, ..., {options}]`, math expressions as `[{expression, id}]`
 * (their inputs are listed as metrics with `visible: false`).
 */
export function widgetMetrics(template: Template): ReadMetric[] {
  const read: ReadMetric[] = [];
  for (const widget of dashboardBody(template).widgets) {
    const properties = (widget.properties ?? {}) as { title?: string; metrics?: unknown[][] };
    const reader = `widget "${properties.title ?? widget.type}"`;
    for (const row of properties.metrics ?? []) {
      const parts = row.filter((part) => typeof part !== 'object' || part === null);
      if (parts.length < 2) continue; // a math expression: its inputs are rows of their own
      const [namespace, name, ...pairs] = parts as [string, string, ...unknown[]];
      const dimensions: Record<string, unknown> = {};
      for (let i = 0; i + 1 < pairs.length; i += 2) dimensions[pairs[i] as string] = untoken(pairs[i + 1]);
      read.push({ reader, namespace: untoken(namespace) as string, name, dimensions });
    }
  }
  return read;
}

/** The widgets of the dashboard that read no metric at all (text, alarm status), by title. */
export function widgetTitles(template: Template): string[] {
  return dashboardBody(template).widgets.map(
    (w) => ((w.properties ?? {}) as { title?: string }).title ?? String(w.type),
  );
}

/**
 * The sum of every value `text`'s EMF documents publish for `name` under exactly `dimensions`
 * (0 when none): what CloudWatch's Sum statistic would show for them.
 */
export function emittedSum(text: string, name: string, dimensions: Readonly<Record<string, string>>): number {
  const wanted = metricKey({ namespace: '', name, dimensions });
  let sum = 0;
  for (const doc of emfDocuments(text)) {
    for (const directive of doc._aws.CloudWatchMetrics) {
      if (!directive.Metrics.some((m) => m.Name === name)) continue;
      for (const set of directive.Dimensions) {
        const dims = Object.fromEntries(set.map((d) => [d, doc[d]]));
        if (metricKey({ namespace: '', name, dimensions: dims }) !== wanted) continue;
        const value = doc[name] as number | number[];
        sum += Array.isArray(value) ? value.reduce((a, b) => a + b, 0) : value;
      }
    }
  }
  return sum;
}
