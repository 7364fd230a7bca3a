import type { Reply } from './resp';

/**
 * What one HTTP request to the endpoint cost its database, counted where Upstash counts it: the
 * commands received, the commands billed (each command, plus every command a script ran), and the
 * key reads that found a value or not (the database's hit rate).
 */
export interface RequestCost {
  commands: number;
  /** Commands plus the calls the scripts among them made (Redis's commandstats count the same). */
  billed: number;
  /** Key reads at the top level that found a value (scripts' own reads are not seen). */
  hits: number;
  misses: number;
}

/** A zeroed cost. */
export const emptyCost = (): RequestCost => ({ commands: 0, billed: 0, hits: 0, misses: 0 });

/**
 * Reads whose reply says whether the key was there: a nil (or empty) reply is a miss. The multi-key
 * ones count one read per key. Other commands are not counted either way.
 */
const SINGLE_READS = new Set(['GET', 'GETEX', 'GETDEL', 'HGET', 'HGETALL', 'LINDEX', 'ZSCORE', 'JSON.GET']);
const MULTI_READS = new Set(['MGET', 'HMGET']);

const found = (reply: Reply): boolean => reply !== null && !(Array.isArray(reply) && reply.length === 0);

/** Adds the hits and misses of a command's reply to `cost` (`name`: the command, upper-cased). */
export function countRead(name: string, reply: Reply, cost: RequestCost): void {
  if (SINGLE_READS.has(name)) {
    if (found(reply)) cost.hits += 1;
    else cost.misses += 1;
  } else if (MULTI_READS.has(name) && Array.isArray(reply)) {
    for (const item of reply) {
      if (item === null) cost.misses += 1;
      else cost.hits += 1;
    }
  }
}
