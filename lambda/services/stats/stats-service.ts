import type { KeyBuilder } from '../../shared/keys';
import { type RedisClient, type RedisLike, toRedisLike } from '../../shared/redis';
import { runScript } from '../../shared/scripts';
import { ADD_SCRIPT, READ_SCRIPT } from './scripts';

/** A tenant's cache totals. */
export interface CacheTotals {
  readonly hits: number;
  readonly misses: number;
  /** hits / (hits + misses), `null` before the first read. */
  readonly hitRate: number | null;
}

/** Options of {@link StatsService}. */
export interface StatsServiceOptions {
  readonly redis: RedisClient;
  readonly keys: KeyBuilder;
  /**
   * Least time between two flushes of a container's counts, in ms. Counting in Redis on every
   * read would double a cache hit's cost; batching costs one script per interval instead.
   * @default 10_000
   */
  readonly flushIntervalMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Per-tenant cache hit and miss totals: counted in the container, added to Redis at most once per
 * `flushIntervalMs` (one script, riding in the same round trip as the request that triggers it).
 * Totals lag by up to one interval per warm container; a container that dies loses its unflushed
 * counts (CloudWatch's CacheHit/CacheMiss metrics are the exact record).
 */
export class StatsService {
  readonly #redis: RedisLike;
  readonly #keys: KeyBuilder;
  readonly #interval: number;
  readonly #now: () => number;
  readonly #pending = new Map<string, { hits: number; misses: number }>();
  #lastFlush: number;

  constructor(options: StatsServiceOptions) {
    this.#redis = toRedisLike(options.redis);
    this.#keys = options.keys;
    this.#interval = options.flushIntervalMs ?? 10_000;
    this.#now = options.now ?? Date.now;
    this.#lastFlush = this.#now();
  }

  #key(tenant: string): string {
    return this.#keys.key('stats', tenant, 'cache');
  }

  /** Counts one cache read of `tenant`. No command. */
  record(tenant: string, hit: boolean): void {
    const counts = this.#pending.get(tenant) ?? { hits: 0, misses: 0 };
    if (hit) counts.hits += 1;
    else counts.misses += 1;
    this.#pending.set(tenant, counts);
  }

  /**
   * Adds the pending counts to Redis when the interval has passed. Call it in the same tick as a
   * request's own commands so auto-pipelining carries it. Never throws: a lost flush is put back
   * for the next one.
   */
  async flush(): Promise<void> {
    if (this.#pending.size === 0 || this.#now() - this.#lastFlush < this.#interval) return;
    this.#lastFlush = this.#now();
    const batch = [...this.#pending];
    this.#pending.clear();
    await Promise.all(
      batch.map(async ([tenant, counts]) => {
        try {
          await runScript(this.#redis, ADD_SCRIPT, [this.#key(tenant)], [counts.hits, counts.misses]);
        } catch {
          const again = this.#pending.get(tenant) ?? { hits: 0, misses: 0 };
          again.hits += counts.hits;
          again.misses += counts.misses;
          this.#pending.set(tenant, again);
        }
      }),
    );
  }

  /** `tenant`'s totals in Redis plus what this container has not flushed yet. One command. */
  async cacheTotals(tenant: string): Promise<CacheTotals> {
    const reply = await runScript<[number, number]>(this.#redis, READ_SCRIPT, [this.#key(tenant)], []);
    const pending = this.#pending.get(tenant);
    const hits = Number(reply[0]) + (pending?.hits ?? 0);
    const misses = Number(reply[1]) + (pending?.misses ?? 0);
    return { hits, misses, hitRate: hits + misses === 0 ? null : hits / (hits + misses) };
  }
}
