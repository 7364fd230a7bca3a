import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIMENSIONS, METRICS, SERVICES } from '../../../../lambda/shared/metric-definitions';
import { MetricsPublisher } from '../../../../lambda/shared/metrics';
import { InvocationUsage } from '../../../../lambda/shared/usage';
import { emfDocuments, emittedMetrics, emittedSum, metricKey } from '../../../helpers/metrics-contract';
import { type CapturedOutput, captureOutput } from '../../../helpers/output';

describe('metric definitions', () => {
  it('spell each metric name once and use only the known dimensions', () => {
    const names = Object.values(METRICS).map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    const known = new Set(Object.values(DIMENSIONS));
    for (const metric of Object.values(METRICS)) {
      expect(metric.dimensionSets.length, metric.name).toBeGreaterThan(0);
      for (const set of metric.dimensionSets)
        for (const d of set) expect(known.has(d), metric.name).toBe(true);
      for (const service of metric.publishedBy) expect(Object.values(SERVICES)).toContain(service);
    }
  });
});

describe('MetricsPublisher', () => {
  let output: CapturedOutput;
  beforeEach(() => {
    output = captureOutput();
  });
  afterEach(() => output.restore());

  const publisher = () => new MetricsPublisher({ defaultService: SERVICES.maintenance, namespace: 'Unit' });

  it('writes one EMF document per set of dimension values, the service dimension added', () => {
    const metrics = publisher();
    metrics.add(METRICS.deadLetters, 2, { queue: 'default' });
    metrics.add(METRICS.queueDepth, 5, { queue: 'default' });
    metrics.add(METRICS.queueDepth, 3, { queue: 'default', priority: 'high' });
    metrics.add(METRICS.deadLetters, 1, { queue: 'other' });
    metrics.publish();

    expect(emfDocuments(output.text())).toHaveLength(3);
    expect(emittedMetrics(output.text()).map(metricKey).sort()).toEqual([
      'Unit DeadLetters {queue=default, service=maintenance}',
      'Unit DeadLetters {queue=other, service=maintenance}',
      'Unit QueueDepth {priority=high, queue=default, service=maintenance}',
      'Unit QueueDepth {queue=default, service=maintenance}',
    ]);
    expect(emittedSum(output.text(), 'QueueDepth', { service: 'maintenance', queue: 'default' })).toBe(5);
  });

  it('refuses a value under dimensions its metric is not published under', () => {
    const metrics = publisher();
    expect(() => metrics.add(METRICS.deadLetters, 1)).toThrow(
      'metric DeadLetters is published under {service, queue}, not {service}',
    );
    expect(() => metrics.add(METRICS.cacheHit, 1, { queue: 'default' })).toThrow(/CacheHit/);
    expect(() => metrics.add(METRICS.deadLetters, 1, { queue: 'q' }, { acrossServices: true })).toThrow(
      /not \{queue\}/,
    );
  });

  it('publishes a total across functions without the service dimension, where the metric has that set', () => {
    const metrics = publisher();
    metrics.add(METRICS.upstashBilledCommands, 7, { database: 'cache' }, { acrossServices: true });
    metrics.publish();
    expect(emittedMetrics(output.text()).map(metricKey)).toEqual([
      'Unit UpstashBilledCommands {database=cache}',
    ]);
  });

  it('splits more than 99 values of a metric over documents that all keep their dimensions', () => {
    const metrics = publisher();
    for (let i = 0; i < 250; i++) metrics.add(METRICS.upstashLatency, i, { database: 'state' });
    metrics.publish();
    const docs = emfDocuments(output.text());
    expect(docs).toHaveLength(3);
    for (const doc of docs) expect(doc).toMatchObject({ service: 'maintenance', database: 'state' });
    expect(emittedSum(output.text(), 'UpstashLatency', { service: 'maintenance', database: 'state' })).toBe(
      (249 * 250) / 2,
    );
  });

  it('adds what an invocation counted, per database, and writes nothing when there is nothing', () => {
    const metrics = publisher();
    metrics.publish();
    expect(output.text()).toBe('');
    const usage = new InvocationUsage();
    usage.record('state', { commands: 2, billed: 5, requestBytes: 100, responseBytes: 40, latencyMs: 3.25 });
    usage.record('state', { commands: 1, billed: 1, requestBytes: 10, responseBytes: 4, latencyMs: 1 });
    metrics.addUsage(usage).publish();
    const text = output.text();
    const dims = { service: 'maintenance', database: 'state' };
    expect(emittedSum(text, 'UpstashCommands', dims)).toBe(3);
    expect(emittedSum(text, 'UpstashBilledCommands', dims)).toBe(6);
    expect(emittedSum(text, 'UpstashBilledCommands', { database: 'state' })).toBe(6);
    expect(emittedSum(text, 'UpstashRequestBytes', dims)).toBe(110);
    expect(emittedSum(text, 'UpstashResponseBytes', dims)).toBe(44);
    expect(emittedSum(text, 'UpstashRoundTrips', dims)).toBe(2);
    expect(emittedSum(text, 'UpstashLatency', dims)).toBe(4.25);
    expect(usage.logFields()).toEqual({
      commands: 3,
      billedCommands: 6,
      roundTrips: 2,
      billedByDatabase: { state: 6 },
    });
  });
});
