import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { type ProbeResult, probeDatabase } from '../services/usage/probe';
import { DIMENSIONS, METRICS, SERVICES } from '../shared/metric-definitions';
import { MetricsPublisher } from '../shared/metrics';
import { runtimeEnv, upstashForDatabase } from '../shared/runtime';
import { InvocationUsage } from '../shared/usage';

/**
 * The usage probe, run on a schedule: asks every database of the deployment for its size
 * (`DBSIZE`, `INFO memory`) and publishes UpstashKeys and UpstashDataBytes per database, which the
 * memory alarm compares with the plan's data size. What it cannot read (bandwidth, Upstash's own
 * monthly command count) the clients count as they go (`lambda/shared/usage.ts`).
 */

/** One database's answer, as logged and returned. */
export type DatabaseProbe = { readonly database: string } & (
  | ({ readonly ok: true } & ProbeResult)
  | { readonly ok: false; readonly error: string }
);

const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME || SERVICES.usageProbe });
const metrics = new MetricsPublisher({ defaultService: SERVICES.usageProbe });

/**
 * Lambda entry, invoked by EventBridge Scheduler. Probes the databases in parallel; a database that
 * fails does not keep the others from being published, but the invocation then fails (the
 * function's error alarm says so).
 */
export const handler = async (_event: unknown, context?: Context): Promise<DatabaseProbe[]> => {
  if (context) logger.addContext(context);
  const usage = new InvocationUsage();
  const probes = await usage.run(() =>
    Promise.all(
      Object.keys(runtimeEnv().databases).map(async (database): Promise<DatabaseProbe> => {
        try {
          // Upstash itself, also while a migration routes reads to the old Redis.
          const result = await probeDatabase(await upstashForDatabase(database));
          return { database, ok: true, ...result };
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          return { database, ok: false, error: typeof code === 'string' ? code : (error as Error).name };
        }
      }),
    ),
  );
  for (const probe of probes) {
    if (!probe.ok) continue;
    const dims = { [DIMENSIONS.database]: probe.database };
    metrics.add(METRICS.upstashKeys, probe.keys, dims);
    if (probe.usedMemoryBytes !== undefined)
      metrics.add(METRICS.upstashDataBytes, probe.usedMemoryBytes, dims);
  }
  metrics.addUsage(usage).publish();
  logger.info('usage probed', { databases: probes, ...usage.logFields() });
  const failed = probes.filter((p) => !p.ok).map((p) => p.database);
  if (failed.length > 0) throw new Error(`usage probe failed for database(s) ${failed.join(', ')}`);
  return probes;
};
