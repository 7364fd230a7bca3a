import type { BenchResults } from './report';

/**
 * How far a time ratio may move between two runs on the same kind of machine and still be
 * "the same": a factor of 1.5 either way. Ratios of two paths timed interleaved in one run hold
 * far better than raw times (the machine is shared, other processes come and go), but sub-0.1 ms
 * references (a direct ioredis GET) still swing with the scheduler.
 */
export const RATIO_TOLERANCE = 1.5;
/**
 * For a single GET through the endpoint against ioredis: ioredis's ~0.1 ms round trip is mostly
 * the wake-up of redis-server and of the client, which moves with the machine's load (per-run
 * ratios hold within 15 % in one run, but drifted from 4.4 to 6.7 between runs an hour apart).
 */
export const SINGLE_COMMAND_TOLERANCE = 2;
/**
 * For the wall-clock cold-start ratios: a fresh process loading a bundle competes for the 2 cores
 * with everything else on the machine (3.6 against 6.7 for the authorizer with a test suite
 * running beside); the CPU-time ratio is checked at the usual tolerance.
 */
export const WALL_COLD_START_TOLERANCE = 2;

/**
 * Compares a fresh run with the committed results: counts (commands, round trips, billed
 * commands, secret fetches) must be equal; time ratios within {@link RATIO_TOLERANCE}; bundle
 * bytes within 1 % (they change only with the code). Returns one line per figure and whether
 * anything is off.
 */
export function compareResults(
  committed: BenchResults,
  fresh: BenchResults,
): { lines: string[]; failed: boolean } {
  const lines: string[] = [];
  let failed = false;
  const exact = (what: string, a: unknown, b: unknown) => {
    const same = JSON.stringify(a) === JSON.stringify(b);
    if (!same) failed = true;
    lines.push(
      `${same ? 'same ' : 'DIFF '} ${what}: committed ${JSON.stringify(a)}, now ${JSON.stringify(b)}`,
    );
  };
  const ratio = (what: string, a: number | undefined, b: number | undefined, tolerance = RATIO_TOLERANCE) => {
    const ok = a !== undefined && b !== undefined && a > 0 && b > 0 && Math.max(a / b, b / a) <= tolerance;
    if (!ok) failed = true;
    lines.push(`${ok ? 'noise' : 'DIFF '} ${what}: committed ${a}, now ${b} (tolerance ×${tolerance})`);
  };
  const counts = (c: { commands: number; roundTrips: number; billed: number } | undefined) =>
    c ? [c.commands, c.roundTrips, c.billed] : null;

  for (const row of fresh.costs) {
    const old = committed.costs.find((c) => c.group === row.group && c.operation === row.operation);
    exact(`${row.group}: ${row.operation} (cmd, rt, billed)`, counts(old?.ours), counts(row.ours));
    if (row.reference)
      exact(
        `${row.group}: ${row.operation}, ${row.reference.name}`,
        counts(old?.reference?.cost),
        counts(row.reference.cost),
      );
  }
  for (const row of fresh.routeCosts) {
    const old = committed.routeCosts?.find((c) => c.route === row.route);
    exact(`API route ${row.route} (cmd, rt, billed)`, counts(old?.ours), counts(row.ours));
  }
  for (const row of fresh.rateLimits) {
    const old = committed.rateLimits.find((r) => r.algorithm === row.algorithm && r.case === row.case);
    exact(`rate limit ${row.algorithm} ${row.case}, ours`, counts(old?.ours), counts(row.ours));
    exact(`rate limit ${row.algorithm} ${row.case}, library`, counts(old?.library), counts(row.library));
  }
  exact('secret fetches of the stack', committed.secretFetches, fresh.secretFetches);
  for (const row of fresh.coldStart) {
    const old = committed.coldStart.find((c) => c.function === row.function);
    exact(
      `${row.function}: secret fetches cold, warm`,
      old ? [old.secretFetchesCold, old.secretFetchesWarm] : null,
      [row.secretFetchesCold, row.secretFetchesWarm],
    );
    const bytesOk = old !== undefined && Math.abs(old.bytes - row.bytes) <= 0.01 * Math.max(old.bytes, 1);
    if (!bytesOk) failed = true;
    lines.push(
      `${bytesOk ? 'same ' : 'DIFF '} ${row.function}: bundle bytes: committed ${old?.bytes}, now ${row.bytes}`,
    );
    if (row.function === 'empty') continue;
    ratio(`${row.function}: cold start CPU / empty handler's`, old?.cpuRatio, row.cpuRatio);
    ratio(
      `${row.function}: cold start wall clock / empty handler's`,
      old?.ratio,
      row.ratio,
      WALL_COLD_START_TOLERANCE,
    );
  }
  for (const row of fresh.sdkPackaging ?? []) {
    const old = committed.sdkPackaging?.find((c) => c.packaging === row.packaging);
    ratio(
      `${row.function} with the SDK ${row.packaging}: cold start CPU / empty handler's`,
      old?.cpuRatio,
      row.cpuRatio,
    );
  }
  const o = committed.overhead;
  const n = fresh.overhead;
  ratio('gateway / direct handler, p50', o.gateway?.p50Ratio, n.gateway?.p50Ratio);
  ratio('direct handler / gateway, throughput', o.gateway?.throughputRatio, n.gateway?.throughputRatio);
  ratio(
    'direct handler / gateway, concurrent throughput',
    o.gatewayConcurrent?.ratio,
    n.gatewayConcurrent?.ratio,
  );
  ratio(
    'Upstash endpoint / ioredis, single GET p50',
    o.upstashSingle?.p50Ratio,
    n.upstashSingle?.p50Ratio,
    SINGLE_COMMAND_TOLERANCE,
  );
  ratio(
    'Upstash endpoint / ioredis, pipeline of 100 p50',
    o.upstashPipeline?.p50Ratio,
    n.upstashPipeline?.p50Ratio,
  );
  ratio(
    'Upstash endpoint / HTTP floor, single GET p50',
    o.upstashFloorSingle?.p50Ratio,
    n.upstashFloorSingle?.p50Ratio,
    SINGLE_COMMAND_TOLERANCE,
  );
  ratio(
    'Upstash endpoint / HTTP floor, pipeline of 100 p50',
    o.upstashFloorPipeline?.p50Ratio,
    n.upstashFloorPipeline?.p50Ratio,
  );
  ratio(
    'Upstash endpoint (lean client) / ioredis, single GET p50',
    o.upstashLeanSingle?.p50Ratio,
    n.upstashLeanSingle?.p50Ratio,
    SINGLE_COMMAND_TOLERANCE,
  );
  ratio(
    'Upstash endpoint (lean client) / ioredis, pipeline of 100 p50',
    o.upstashLeanPipeline?.p50Ratio,
    n.upstashLeanPipeline?.p50Ratio,
  );
  return { lines, failed };
}
