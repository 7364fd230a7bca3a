import type { Algorithm } from '../../shared/config';

/**
 * The arithmetic of the three algorithms, without Redis: it turns the raw state the check script
 * returns into a result, and it runs the in-container limiter of the `local` outage policy. The
 * Lua in `scripts.ts` does the same decisions; keep the two in step.
 */

/** The algorithms a {@link RateLimiter} can run. */
export type { Algorithm } from '../../shared/config';

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

/** A counter of the in-container limiter that holds more than Redis knows (see {@link LocalLimiter.ahead}). */
export interface AheadEntry {
  readonly key: string;
  readonly config: LimitConfig;
  /** `count` for a window counter, `bucket` for a token bucket. */
  readonly kind: 'count' | 'bucket';
  /** The count, or the tokens left. */
  readonly a: number;
  /** The bucket's last refill time (0 for counts). */
  readonly b: number;
  /** How long the counter lives from now, in ms. */
  readonly ttlMs: number;
}

/** How long each algorithm keeps a counter, as the script does. */
const countTtl = (config: LimitConfig): number =>
  config.algorithm === 'sliding-window' ? 2 * config.windowMs + 1000 : config.windowMs;

/**
 * An in-container limiter with the same algorithms and the same all-or-nothing decision as the
 * script, for the `local` outage policy. Bounded: above `maxEntries` the oldest entries go.
 *
 * It starts an outage where Redis left off: every state Redis returns is mirrored in
 * ({@link LocalLimiter.mirror}), so a container never admits more than the limit across an
 * outage. What it consumes meanwhile is marked as ahead of Redis ({@link LocalLimiter.ahead}) and
 * raised into Redis by the first check after the outage.
 */
export class LocalLimiter {
  readonly #entries = new Map<string, Entry>();
  /** Keys consumed while Redis was unreachable, with the config they count for. */
  readonly #ahead = new Map<string, LimitConfig>();

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
      this.#ahead.delete(oldest);
    }
  }

  /**
   * Takes the state Redis returned for `keys` (the script's layout) as this container's own, so
   * the `local` policy continues from it. Keys that are ahead of Redis are left alone.
   */
  mirror(now: number, config: LimitConfig, keys: readonly string[], state: LimitState): void {
    const [first = '', second] = keys;
    if (this.#ahead.has(first) || (second !== undefined && this.#ahead.has(second))) return;
    if (config.algorithm === 'token-bucket') {
      if (state.a >= config.limit) this.#entries.delete(first);
      else {
        const ttl = Math.ceil((config.limit - state.a) / config.refillRate) * config.windowMs;
        this.#set(first, `${state.a}:${state.b}`, now, ttl);
      }
      return;
    }
    const ttl = countTtl(config);
    if (state.a > 0) this.#set(first, String(state.a), now, this.#entries.has(first) ? 'keep' : ttl);
    else this.#entries.delete(first);
    if (config.algorithm === 'sliding-window' && second !== undefined) {
      // The previous window's counter only has to outlive the current window.
      const windowEnd = (windowIndex(now, config.windowMs) + 1) * config.windowMs;
      if (state.b > 0) this.#set(second, String(state.b), now, windowEnd - now + 1000);
      else this.#entries.delete(second);
    }
  }

  /**
   * The counters among `keys` that hold consumption Redis does not know (made during an outage),
   * with their values at `now`: the next check raises Redis to them first.
   */
  ahead(now: number, keys: readonly string[]): AheadEntry[] {
    const out: AheadEntry[] = [];
    for (const key of keys) {
      const config = this.#ahead.get(key);
      if (!config) continue;
      const entry = this.#entries.get(key);
      if (!entry || entry.expiresAt <= now) {
        this.#ahead.delete(key);
        continue;
      }
      const ttlMs = Math.max(1, Math.min(entry.expiresAt - now, 2 ** 31 - 1));
      if (config.algorithm === 'token-bucket') {
        const [t, r] = entry.value.split(':');
        out.push({ key, config, kind: 'bucket', a: Number(t), b: Number(r), ttlMs });
      } else out.push({ key, config, kind: 'count', a: Number(entry.value), b: 0, ttlMs });
    }
    return out;
  }

  /** Drops these counters (a reset). */
  forget(keys: readonly string[]): void {
    for (const key of keys) {
      this.#entries.delete(key);
      this.#ahead.delete(key);
    }
  }

  /** Redis now holds at least what these keys hold here. */
  caughtUp(keys: readonly string[]): void {
    for (const key of keys) this.#ahead.delete(key);
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
      if (r.cost > 0) this.#ahead.set(key, r.config);
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
      const ttl = countTtl(r.config);
      if (r.raw === null) {
        if (target > 0) this.#set(key, String(target), now, ttl);
      } else this.#set(key, String(target), now, 'keep');
      return { a: target, b: r.b };
    });
    return { ok: true, failedIndex: 0, states };
  }
}
