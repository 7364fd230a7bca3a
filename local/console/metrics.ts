import { monthlyCostUsd, type UpstashPlan } from '../../lib/plans';
import { parseTag } from '../request-tags';
import type { ServedRequest } from '../upstash/server';
import type { RestDatabase } from './upstash-rest';
import type { DatabaseSnapshot } from './wire';

/**
 * Per database, what the Upstash console shows for a database: commands per second, hit rate,
 * latency percentiles, key count and memory, and what the traffic seen would cost in a month on
 * the database's plan. Counted from the endpoint's reports of every request but the console's own.
 */

export type { DatabaseSnapshot } from './wire';

/** Seconds of the charts' series and of the figures' window. */
export const SERIES_SECONDS = 60;
const WINDOW_SECONDS = 300;
/** Latencies kept per database for the percentiles. */
const MAX_LATENCIES = 10_000;
/** Keys whose MEMORY USAGE is summed at most per sample. */
const MEMORY_SAMPLE = 1_000;

interface Second {
  at: number;
  commands: number;
  billed: number;
  hits: number;
  misses: number;
}

/**
 * Sums MEMORY USAGE over the first ARGV[1] keys SCAN returns. Returns { bytes, keys measured,
 * DBSIZE }. One round trip, run through the endpoint's sandbox like any script.
 */
const MEMORY_SCRIPT = `
local cursor, bytes, seen, limit = '0', 0, 0, tonumber(ARGV[1])
repeat
  local page = redis.call('SCAN', cursor, 'COUNT', 500)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    if seen < limit then
      bytes = bytes + (redis.call('MEMORY', 'USAGE', key) or 0)
      seen = seen + 1
    end
  end
until cursor == '0' or seen >= limit
return { bytes, seen, redis.call('DBSIZE') }
`;

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

class DatabaseSeries {
  readonly seconds: Second[] = [];
  readonly latencies: Array<{ at: number; ms: number }> = [];
  keys: number | null = null;
  memoryBytes: number | null = null;
  memorySampled = false;

  constructor(
    readonly name: string,
    readonly plan: UpstashPlan,
  ) {}

  add(served: ServedRequest, now: number): void {
    const at = Math.floor(now / 1000);
    let second = this.seconds[this.seconds.length - 1];
    if (second?.at !== at) {
      second = { at, commands: 0, billed: 0, hits: 0, misses: 0 };
      this.seconds.push(second);
      while ((this.seconds[0]?.at ?? at) <= at - WINDOW_SECONDS) this.seconds.shift();
    }
    second.commands += served.commands;
    second.billed += served.billed;
    second.hits += served.hits;
    second.misses += served.misses;
    this.latencies.push({ at: now, ms: served.ms });
    if (this.latencies.length > MAX_LATENCIES) this.latencies.shift();
  }

  snapshot(now: number, since: number): DatabaseSnapshot {
    const at = Math.floor(now / 1000);
    const inWindow = this.seconds.filter((s) => s.at > at - WINDOW_SECONDS);
    const perSecond = new Map(inWindow.map((s) => [s.at, s.commands]));
    const series = Array.from(
      { length: SERIES_SECONDS },
      (_, i) => perSecond.get(at - SERIES_SECONDS + 1 + i) ?? 0,
    );
    const recent = inWindow.filter((s) => s.at > at - 10).reduce((n, s) => n + s.commands, 0);
    const hits = inWindow.reduce((n, s) => n + s.hits, 0);
    const misses = inWindow.reduce((n, s) => n + s.misses, 0);
    const billed = inWindow.reduce((n, s) => n + s.billed, 0);
    const windowSeconds = Math.max(1, Math.min(WINDOW_SECONDS, Math.round((now - since) / 1000)));
    const latencies = this.latencies
      .filter((l) => l.at > now - WINDOW_SECONDS * 1000)
      .map((l) => l.ms)
      .sort((a, b) => a - b);
    const round = (ms: number) => Math.round(ms * 100) / 100;
    return {
      name: this.name,
      plan: {
        preset: this.plan.preset,
        pricePer100kCommands: this.plan.pricePer100kCommands,
        monthlyFeeUsd: this.plan.monthlyFeeUsd,
      },
      commandsPerSecond: series,
      commandsPerSecondNow: Math.round((recent / 10) * 10) / 10,
      hitRate: hits + misses === 0 ? null : hits / (hits + misses),
      reads: hits + misses,
      latencyMs:
        latencies.length === 0
          ? null
          : {
              p50: round(percentile(latencies, 50)),
              p95: round(percentile(latencies, 95)),
              p99: round(percentile(latencies, 99)),
            },
      billed,
      windowSeconds,
      monthlyUsd: monthlyCostUsd(this.plan, (billed / windowSeconds) * 86_400),
      keys: this.keys,
      memoryBytes: this.memoryBytes,
      memorySampled: this.memorySampled,
    };
  }
}

/** The figures of every database; see the module's comment. */
export class DatabaseMetrics {
  readonly #series: DatabaseSeries[];
  readonly #since = Date.now();

  /** @param databases in the endpoint's order (its database numbers) */
  constructor(databases: ReadonlyArray<{ readonly name: string; readonly plan: UpstashPlan }>) {
    this.#series = databases.map((db) => new DatabaseSeries(db.name, db.plan));
  }

  /** A request the endpoint served (the console's own are left out). */
  served(served: ServedRequest, now = Date.now()): void {
    if (parseTag(served.tag)?.kind === 'console') return;
    this.#series[served.database]?.add(served, now);
  }

  /** Reads each database's key count and memory (one round trip each). */
  async sample(databases: readonly RestDatabase[]): Promise<void> {
    await Promise.all(
      databases.map(async (db) => {
        const series = this.#series.find((s) => s.name === db.name);
        if (!series) return;
        const [bytes, measured, keys] = (await db.command(
          'EVAL',
          MEMORY_SCRIPT,
          0,
          MEMORY_SAMPLE,
        )) as number[];
        series.keys = Number(keys);
        series.memorySampled = Number(keys) > Number(measured);
        series.memoryBytes =
          Number(measured) > 0 ? Math.round((Number(bytes) / Number(measured)) * Number(keys)) : 0;
      }),
    );
  }

  snapshot(now = Date.now()): DatabaseSnapshot[] {
    return this.#series.map((s) => s.snapshot(now, this.#since));
  }
}
