import { Agent, createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis as IORedis } from 'ioredis';
import type { UpstashEndpoint } from '../local/upstash/server';

/** Median of numbers (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The p-th percentile (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export const round = (value: number, digits = 2): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** What one operation cost. */
export interface Cost {
  /** Top-level commands, counted at the local Upstash endpoint. */
  readonly commands: number;
  /** HTTP round trips to the endpoint. */
  readonly roundTrips: number;
  /** What Upstash bills: each command, and each command a script runs (INFO commandstats delta). */
  readonly billed: number;
  /** The top-level commands sent, by name (one run's; counts are the same every run). */
  readonly sent?: Readonly<Record<string, number>>;
}

/**
 * Counts what `op` sends: requests and commands at the endpoint (for `token`), and every command
 * the Redis executed, scripts' inner calls included. The Redis must be the bench's own.
 */
export async function costOf(
  endpoint: UpstashEndpoint,
  token: string,
  redis: IORedis,
  op: () => Promise<unknown>,
): Promise<Cost> {
  await redis.call('CONFIG', 'RESETSTAT');
  endpoint.resetStats();
  await op();
  const stats = endpoint.stats(token);
  const info = String(await redis.call('INFO', 'commandstats'));
  let billed = 0;
  for (const line of info.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (!match) continue;
    // The measurement's own commands (and the endpoint's connection set-up) are not the op's.
    if (
      ['config|resetstat', 'info', 'select', 'client|setinfo', 'client|setname'].includes(match[1] as string)
    )
      continue;
    billed += Number(match[2]);
  }
  // Commands the endpoint answered without Redis (a NOSCRIPT) never reach commandstats; Upstash bills them.
  billed += stats.answeredLocally;
  return { commands: stats.commands, roundTrips: stats.requests, billed, sent: stats.byCommand };
}

/** Runs `op` `runs` times (after one warm-up) and keeps the median of each count. */
export async function medianCost(runs: number, measure: () => Promise<Cost>, warmUp = true): Promise<Cost> {
  if (warmUp) await measure();
  const costs: Cost[] = [];
  for (let i = 0; i < runs; i++) costs.push(await measure());
  return pickMedian(costs);
}

/** The median of each count over several measurements of one operation. */
export function pickMedian(costs: readonly Cost[]): Cost {
  const commands = median(costs.map((c) => c.commands));
  return {
    commands,
    roundTrips: median(costs.map((c) => c.roundTrips)),
    billed: median(costs.map((c) => c.billed)),
    sent: costs.find((c) => c.commands === commands)?.sent ?? {},
  };
}

/** Latency and throughput of one way of doing the same thing. */
export interface LatencyRow {
  readonly name: string;
  /** Median over the runs of each run's p50 / p99, ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Sequential operations per second (per item for a batch). */
  readonly perSecond: number;
}

/** Two ways of doing the same thing, timed interleaved, and their ratios. */
export interface PairedLatency {
  readonly subject: LatencyRow;
  readonly reference: LatencyRow;
  /** Median over the runs of subject / reference, each run's ratio taken from the same run. */
  readonly p50Ratio: number;
  readonly p99Ratio: number;
  /** Median over the runs of reference throughput / subject throughput (> 1: the subject is slower). */
  readonly throughputRatio: number;
  /** Each run's p50 ratio, to show the spread. */
  readonly p50RatioRuns: readonly number[];
}

/**
 * Times `subject` and `reference` interleaved call by call (so a busy moment of the machine hits
 * both alike), `n` calls each per run, after a warm-up; `per` items per call for throughput.
 */
export async function pairedLatency(
  subject: { name: string; op: () => Promise<unknown> },
  reference: { name: string; op: () => Promise<unknown> },
  options: { runs: number; n: number; per?: number; warmUp?: number },
): Promise<PairedLatency> {
  const per = options.per ?? 1;
  for (let i = 0; i < (options.warmUp ?? 50); i++) {
    await subject.op();
    await reference.op();
  }
  const runs: Array<{ s: number[]; r: number[] }> = [];
  for (let run = 0; run < options.runs; run++) {
    const s: number[] = [];
    const r: number[] = [];
    for (let i = 0; i < options.n; i++) {
      // Alternate which goes first, so neither always follows the other.
      const order = i % 2 === 0 ? ([subject, reference] as const) : ([reference, subject] as const);
      for (const side of order) {
        const t = performance.now();
        await side.op();
        (side === subject ? s : r).push(performance.now() - t);
      }
    }
    runs.push({ s, r });
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const row = (name: string, pick: (x: { s: number[]; r: number[] }) => number[]): LatencyRow => ({
    name,
    p50Ms: round(median(runs.map((x) => percentile(pick(x), 50))), 3),
    p99Ms: round(median(runs.map((x) => percentile(pick(x), 99))), 3),
    perSecond: round(median(runs.map((x) => ((pick(x).length * per) / sum(pick(x))) * 1000)), 0),
  });
  const p50RatioRuns = runs.map((x) => round(percentile(x.s, 50) / percentile(x.r, 50), 2));
  return {
    subject: row(subject.name, (x) => x.s),
    reference: row(reference.name, (x) => x.r),
    p50Ratio: round(median(p50RatioRuns), 2),
    p99Ratio: round(median(runs.map((x) => percentile(x.s, 99) / percentile(x.r, 99))), 2),
    throughputRatio: round(median(runs.map((x) => sum(x.s) / sum(x.r))), 2),
    p50RatioRuns,
  };
}

/**
 * Requests per second with `concurrency` in flight, subject and reference alternating run by run;
 * returns both medians and the median of the per-run ratios (reference / subject).
 */
export async function pairedThroughput(
  subject: () => Promise<unknown>,
  reference: () => Promise<unknown>,
  options: { runs: number; total: number; concurrency: number },
): Promise<{ subjectPerSecond: number; referencePerSecond: number; ratio: number }> {
  const rate = async (op: () => Promise<unknown>) => {
    let left = options.total;
    const t = performance.now();
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (left-- > 0) await op();
      }),
    );
    return (options.total / (performance.now() - t)) * 1000;
  };
  await rate(subject);
  await rate(reference);
  const s: number[] = [];
  const r: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    if (run % 2 === 0) {
      s.push(await rate(subject));
      r.push(await rate(reference));
    } else {
      r.push(await rate(reference));
      s.push(await rate(subject));
    }
  }
  return {
    subjectPerSecond: round(median(s), 0),
    referencePerSecond: round(median(r), 0),
    ratio: round(median(s.map((x, i) => (r[i] as number) / x)), 2),
  };
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One keep-alive HTTP request; resolves with the status. */
export function http(
  url: string,
  method: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method,
        agent,
        headers: {
          ...headers,
          ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export function closeHttp(): void {
  agent.destroy();
}

/**
 * The HTTP floor of the endpoint rows: a server that answers the Upstash REST client at once,
 * without Redis, with the endpoint's headers and answers of the same shape (one base64 result,
 * or 100 for `/pipeline`). What `@upstash/redis` and Node's fetch cost here, whatever the server
 * does; the endpoint's own work is what it takes beyond this.
 */
/**
 * The leanest REST client: one keep-alive socket (node:http), the JSON body written and the
 * answer read whole, nothing else. Against the endpoint it measures what the endpoint itself
 * costs, without a full client's work (the SDK's fetch, its command classes and parsing).
 */
export function leanRestClient(url: string, token: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const { hostname, port } = new URL(url);
  const post = (path: string, body: string) =>
    new Promise<unknown>((resolve, reject) => {
      const req = httpRequest(
        {
          host: hostname,
          port,
          path,
          method: 'POST',
          agent,
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const reply = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}: ${JSON.stringify(reply)}`));
            else resolve(reply);
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  return {
    command: (args: readonly string[]) => post('/', JSON.stringify(args)),
    pipeline: (commands: readonly (readonly string[])[]) => post('/pipeline', JSON.stringify(commands)),
    close: () => agent.destroy(),
  };
}

export async function startHttpFloor(): Promise<{ url: string; close: () => Promise<void> }> {
  const single = '{"result":"dg=="}';
  const pipeline = `[${Array.from({ length: 100 }, () => '{"result":"T0s="}').join(',')}]`;
  let sync = 0;
  const server = createServer({ keepAlive: true }, (req, res) => {
    req.resume();
    req.on('end', () => {
      const body = req.url === '/pipeline' ? pipeline : single;
      sync += 1;
      res
        .writeHead(200, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'access-control-allow-origin': '*',
          'access-control-expose-headers': 'upstash-sync-token',
          'upstash-sync-token': String(sync),
        })
        .end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
