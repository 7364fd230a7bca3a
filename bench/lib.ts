import { Agent, request as httpRequest } from 'node:http';
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
  return { commands: stats.commands, roundTrips: stats.requests, billed };
}

/** Runs `op` `runs` times (after one warm-up) and keeps the median of each count. */
export async function medianCost(runs: number, measure: () => Promise<Cost>, warmUp = true): Promise<Cost> {
  if (warmUp) await measure();
  const costs: Cost[] = [];
  for (let i = 0; i < runs; i++) costs.push(await measure());
  return {
    commands: median(costs.map((c) => c.commands)),
    roundTrips: median(costs.map((c) => c.roundTrips)),
    billed: median(costs.map((c) => c.billed)),
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
