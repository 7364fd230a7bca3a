/**
 * The arithmetic of the three algorithms, without Redis: it turns the raw state the check script
 * returns into a result, and it runs the in-container limiter of the `local` outage policy. The
 * Lua in `scripts.ts` does the same decisions; keep the two in step.
 */

/** The algorithms a {@link RateLimiter} can run. */
export type Algorithm = 'fixed-window' | 'sliding-window' | 'token-bucket';

/** One limit: `limit` requests (or tokens) per `windowMs`. */
export interface LimitConfig {
  readonly algorithm: Algorithm;
  /** Requests per window; for a token bucket, the bucket size. */
  readonly limit: number;
  /** Window in ms; for a token bucket, the refill interval. */
  readonly windowMs: number;
  /** Tokens added per interval (token bucket only). */
  readonly refillRate: number;
}

/**
 * Raw state after a decision, as the script returns it: fixed `a` = used in the window;
 * sliding `a` = used in the current window, `b` = used in the previous one; token bucket `a` =
 * tokens left, `b` = time of the last refill (epoch ms).
 */
export interface LimitState {
  readonly a: number;
  readonly b: number;
}

/** Index of the epoch-aligned window `now` falls in. */
export const windowIndex = (now: number, windowMs: number): number => Math.floor(now / windowMs);

/** Requests of the previous window still counted at `now`, as the script weighs them. */
export function weightedPrevious(previous: number, now: number, windowMs: number): number {
  return Math.floor((previous * (windowMs - (now % windowMs))) / windowMs);
}

/** What remains of `config` in `state` at `now`, never below 0. */
export function remainingOf(config: LimitConfig, now: number, state: LimitState): number {
  switch (config.algorithm) {
    case 'fixed-window':
      return Math.max(0, config.limit - state.a);
    case 'sliding-window':
      return Math.max(0, config.limit - state.a - weightedPrevious(state.b, now, config.windowMs));
    case 'token-bucket':
      return Math.max(0, state.a);
  }
}

/**
 * When a request of cost 1 can next pass if nobody else consumes (epoch ms); while requests
 * still pass, when the limit next replenishes (end of the window, next refill).
 */
export function resetOf(config: LimitConfig, now: number, state: LimitState): number {
  const { windowMs, limit } = config;
  const windowEnd = (windowIndex(now, windowMs) + 1) * windowMs;
  switch (config.algorithm) {
    case 'fixed-window':
      return windowEnd;
    case 'token-bucket':
      return state.b + windowMs;
    case 'sliding-window': {
      if (remainingOf(config, now, state) >= 1) return windowEnd;
      const start = windowEnd - windowMs;
      const current = state.a;
      const previous = state.b;
      // Still in this window: the previous window's weight must fall below what is left.
      if (current < limit && previous > 0) {
        // floor(previous * (W - o) / W) <= limit - 1 - current  <=>  previous * (W - o) < (limit - current) * W
        const offset = Math.floor(windowMs - ((limit - current) * windowMs) / previous) + 1;
        if (offset < windowMs) return start + Math.max(offset, (now % windowMs) + 1);
      }
      // In the next window this window becomes the previous one.
      if (current < limit) return windowEnd;
      const offset = Math.floor(windowMs - (limit * windowMs) / current) + 1;
      return windowEnd + Math.min(offset, windowMs);
    }
  }
}

/** The Redis-like store the in-container limiter keeps its state in. */
interface Entry {
  value: string;
  expiresAt: number;
}

/**
 * An in-container limiter with the same algorithms and the same all-or-nothing decision as the
 * script, for the `local` outage policy. Bounded: above `maxEntries` the oldest entries go.
 */
export class LocalLimiter {
  readonly #entries = new Map<string, Entry>();

  /** @param maxEntries - most keys kept; the oldest are dropped first. */
  constructor(readonly maxEntries = 10_000) {}

  /** Number of keys held (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  #get(key: string, now: number): string | null {
    const entry = this.#entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= now) {
      this.#entries.delete(key);
      return null;
    }
    return entry.value;
  }

  #set(key: string, value: string, now: number, ttlMs: number | 'keep'): void {
    const previous = this.#entries.get(key);
    const expiresAt = ttlMs === 'keep' ? (previous?.expiresAt ?? Number.POSITIVE_INFINITY) : now + ttlMs;
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt });
    while (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  /**
   * Decides limits exactly as the check script does: `keys` and `configs` in the script's layout
   * (one key per fixed window and token bucket, two per sliding window).
   */
  check(
    now: number,
    limits: ReadonlyArray<{ config: LimitConfig; keys: readonly string[]; cost: number }>,
  ): { ok: boolean; failedIndex: number; states: LimitState[] } {
    const read = limits.map(({ config, keys, cost }) => {
      const [first = '', second = ''] = keys;
      if (config.algorithm === 'fixed-window') {
        const raw = this.#get(first, now);
        const a = Number(raw ?? 0);
        return { config, keys, cost, raw, a, b: 0, remaining: config.limit - a };
      }
      if (config.algorithm === 'sliding-window') {
        const raw = this.#get(first, now);
        const a = Number(raw ?? 0);
        const b = Number(this.#get(second, now) ?? 0);
        const remaining = config.limit - a - weightedPrevious(b, now, config.windowMs);
        return { config, keys, cost, raw, a, b, remaining };
      }
      const raw = this.#get(first, now);
      let tokens = config.limit;
      let at = now;
      if (raw !== null) {
        const [t, r] = raw.split(':');
        tokens = Number(t);
        at = Number(r);
      }
      if (now >= at + config.windowMs) {
        const refills = Math.floor((now - at) / config.windowMs);
        tokens = Math.min(config.limit, tokens + refills * config.refillRate);
        at += refills * config.windowMs;
      }
      return { config, keys, cost, raw, a: tokens, b: at, remaining: tokens };
    });
    const failed = read.findIndex((r) => r.cost > 0 && r.cost > r.remaining);
    if (failed >= 0)
      return { ok: false, failedIndex: failed + 1, states: read.map(({ a, b }) => ({ a, b })) };
    const states = read.map((r) => {
      const key = r.keys[0] ?? '';
      if (r.cost === 0) return { a: r.a, b: r.b };
      if (r.config.algorithm === 'token-bucket') {
        const tokens = Math.min(r.config.limit, r.a - r.cost);
        if (tokens >= r.config.limit) this.#entries.delete(key);
        else {
          const ttl = Math.ceil((r.config.limit - tokens) / r.config.refillRate) * r.config.windowMs;
          this.#set(key, `${tokens}:${r.b}`, now, ttl);
        }
        return { a: tokens, b: r.b };
      }
      const target = Math.max(0, r.a + r.cost);
      const ttl = r.config.algorithm === 'sliding-window' ? 2 * r.config.windowMs + 1000 : r.config.windowMs;
      if (r.raw === null) {
        if (target > 0) this.#set(key, String(target), now, ttl);
      } else this.#set(key, String(target), now, 'keep');
      return { a: target, b: r.b };
    });
    return { ok: true, failedIndex: 0, states };
  }
}
