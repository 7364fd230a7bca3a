/**
 * Rate limits on Redis: fixed window, sliding window and token bucket, each check one script
 * (one command, one round trip).
 *
 * Why not `@upstash/ratelimit` 2.2 (read in node_modules/@upstash/ratelimit/dist): it meets the
 * one-command check, but not the rest of our contract.
 * - Cost before consume: its fixed window INCRBYs even when the request is refused, and its
 *   sliding window refuses only when the window is already full, so a request with a cost larger
 *   than what remains is admitted partially or counted anyway.
 * - Several limits atomically: one instance per limit, no all-or-nothing across limits.
 * - Outage policy: only a fail-open timeout (`reason: 'timeout'`); no closed or local mode.
 * - Reset without SCAN: `resetUsedTokens` scans the whole keyspace inside one script.
 * - It needs an `@upstash/redis` client, so the TCP mode (`RedisLike` over ioredis) is out.
 * So the scripts are ours (`scripts.ts`), and they cost no more billed commands than its.
 */
import { type CircuitBreaker, circuitFor } from '../../shared/circuit-breaker';
import { DEFAULTS, type OutagePolicy } from '../../shared/config';
import { UpstashUnavailableError, ValidationError } from '../../shared/errors';
import type { KeyBuilder } from '../../shared/keys';
import { type RedisClient, type RedisLike, toRedisLike } from '../../shared/redis';
import { runScript } from '../../shared/scripts';
import {
  type AheadEntry,
  type Algorithm,
  type LimitConfig,
  type LimitState,
  LocalLimiter,
  remainingOf,
  resetOf,
  windowIndex,
} from './algorithms';
import { BlockedCache } from './blocked-cache';
import { CHECK_SCRIPT, RAISE_SCRIPT } from './scripts';

export type { Algorithm } from './algorithms';

/**
 * Why a check came out as it did:
 * - `allowed`: Redis admitted it (for a refund: the tokens were given back);
 * - `limited`: Redis refused it, nothing consumed;
 * - `blocked-cache`: refused from the in-container cache of blocked identifiers, 0 commands;
 * - `outage-open`: Redis unreachable, admitted by the `open` policy;
 * - `outage-closed`: Redis unreachable, refused by the `closed` policy;
 * - `outage-local`: Redis unreachable, decided by the in-container limiter (`local` policy);
 *   `success` says which way.
 */
export type RateLimitReason =
  | 'allowed'
  | 'limited'
  | 'blocked-cache'
  | 'outage-open'
  | 'outage-closed'
  | 'outage-local';

/**
 * What a limiter does while Redis counts as down: its circuit breaker is open (see
 * `lambda/shared/circuit-breaker.ts`, the rule the cache fallback uses too). A failed check while
 * the circuit is still closed is not an outage yet: it throws UpstashUnavailableError.
 */
export type { OutagePolicy } from '../../shared/config';

/** The answer of a check. Times are epoch ms. */
export interface RateLimitResult {
  /** Whether the request may proceed. */
  readonly success: boolean;
  /** The limit that decided (for several limits: the one that refused, else the tightest). */
  readonly limit: number;
  /** What remains of that limit after this request, never below 0. */
  readonly remaining: number;
  /** When a request of cost 1 can next pass (refused), or when the limit replenishes (admitted). */
  readonly reset: number;
  /** Why; see {@link RateLimitReason}. */
  readonly reason: RateLimitReason;
}

/** Options of {@link RateLimiter}. */
export interface RateLimiterOptions {
  /** The database client (a non-evicting database: an evicted counter silently lifts a limit). */
  readonly redis: RedisClient;
  /** The key builder; keys are `ratelimit` keys of the tenant. */
  readonly keys: KeyBuilder;
  /** Name of this limit (e.g. `api`); part of every key, so two limiters never share counters. */
  readonly name: string;
  /** The algorithm. */
  readonly algorithm: Algorithm;
  /** Requests per window; for a token bucket, the bucket size. A positive integer. */
  readonly limit: number;
  /** Window in ms; for a token bucket, the refill interval. */
  readonly windowMs: number;
  /**
   * Tokens added per interval (token bucket only).
   * @default - `limit`: the bucket refills completely every interval
   */
  readonly refillRate?: number;
  /**
   * What to do while Redis counts as down (the circuit is open).
   * @default 'local' - an in-container limiter that starts from Redis's last state decides
   * (`DEFAULTS.rateLimit.outage`, as deployed); `closed` refuses, `open` admits
   */
  readonly outage?: OutagePolicy;
  /**
   * The circuit breaker that decides when the outage policy takes over.
   * @default - the database client's (`circuitFor(redis)`), shared by every service on it
   */
  readonly circuit?: CircuitBreaker;
  /**
   * Most identifiers remembered as blocked until their reset (0 turns the cache off).
   * @default 1000
   */
  readonly blockedCacheSize?: number;
  /**
   * Most keys the in-container limiter of the `local` policy holds.
   * @default 10000
   */
  readonly localMaxEntries?: number;
  /**
   * The clock, in epoch ms. Windows are aligned to the epoch on the caller's clock, as upstream.
   * @default Date.now
   */
  readonly now?: () => number;
}

/** Options of one {@link RateLimiter.check}. */
export interface CheckOptions {
  /**
   * Tokens this request takes: an integer; negative refunds, 0 only reads.
   * @default 1
   */
  readonly cost?: number;
}

/** One limit of a {@link RateLimiter.checkAll}. */
export interface LimitCheck {
  readonly limiter: RateLimiter;
  readonly tenant: string;
  readonly identifier: string;
  /** @default 1 */
  readonly cost?: number;
}

/** The answer of {@link RateLimiter.checkAll}: the overall decision plus each limit's. */
export interface MultiRateLimitResult extends RateLimitResult {
  /** One result per limit, in the order given. */
  readonly results: readonly RateLimitResult[];
}

const ALGORITHM_CODE: Record<Algorithm, string> = {
  'fixed-window': 'f',
  'sliding-window': 's',
  'token-bucket': 'b',
};

const positiveInteger = (value: number, what: string): number => {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ValidationError(`${what} must be a positive integer, got ${value}`);
  }
  return value;
};

const costOf = (cost: number | undefined): number => {
  const value = cost ?? 1;
  if (!Number.isSafeInteger(value)) throw new ValidationError(`cost must be an integer, got ${value}`);
  return value;
};

/**
 * A rate limit on Redis. Each check is one script: one command and one round trip; several
 * limits go in one script too, all or nothing ({@link RateLimiter.checkAll}). Build it once per
 * container (module scope) so the blocked cache and the local limiter survive between calls.
 *
 * @example
 * const api = new RateLimiter({ redis, keys, name: 'api', algorithm: 'sliding-window', limit: 100, windowMs: 60_000 });
 * const result = await api.check('acme', apiKeyId);
 * if (!result.success) return tooManyRequests(result.reset);
 */
export class RateLimiter {
  /** The database client. */
  readonly redis: RedisLike;
  /** The limit as the scripts see it. */
  readonly config: LimitConfig;
  /** The outage policy. */
  readonly outage: OutagePolicy;
  /** Name of the limit. */
  readonly name: string;
  /** Decides when the outage policy takes over. */
  readonly circuit: CircuitBreaker;
  readonly #keys: KeyBuilder;
  readonly #now: () => number;
  readonly #blocked: BlockedCache;
  readonly #local: LocalLimiter;

  constructor(options: RateLimiterOptions) {
    this.redis = toRedisLike(options.redis);
    this.#keys = options.keys;
    this.name = options.name;
    // Validates the name early (the key builder throws on a bad one).
    options.keys.key('ratelimit', 'probe', options.name);
    if (options.name.includes(':')) throw new ValidationError('limiter name must not contain ":"');
    if (!(options.algorithm in ALGORITHM_CODE)) {
      throw new ValidationError(`unknown rate-limit algorithm "${options.algorithm}"`);
    }
    const limit = positiveInteger(options.limit, 'limit');
    this.config = {
      algorithm: options.algorithm,
      limit,
      windowMs: positiveInteger(options.windowMs, 'windowMs'),
      refillRate: positiveInteger(options.refillRate ?? limit, 'refillRate'),
    };
    this.outage = options.outage ?? DEFAULTS.rateLimit.outage;
    this.#now = options.now ?? Date.now;
    this.circuit = options.circuit ?? circuitFor(this.redis);
    this.#blocked = new BlockedCache(options.blockedCacheSize ?? 1000);
    this.#local = new LocalLimiter(options.localMaxEntries ?? 10_000);
  }

  /** The identity of `identifier`'s counter: the blocked cache and the local limiter use it. */
  #base(tenant: string, identifier: string): string {
    return this.#keys.key('ratelimit', tenant, `${this.name}:${identifier}`);
  }

  /** The keys the script touches at `now`, in its layout. */
  #keysAt(base: string, now: number): string[] {
    const { algorithm, windowMs } = this.config;
    if (algorithm === 'token-bucket') return [base];
    const index = windowIndex(now, windowMs);
    return algorithm === 'fixed-window' ? [`${base}:${index}`] : [`${base}:${index}`, `${base}:${index - 1}`];
  }

  /**
   * Checks one request of `identifier` (an API key id, a user, an IP) and consumes `cost` when
   * it passes. A cost larger than what remains consumes nothing.
   */
  async check(tenant: string, identifier: string, options: CheckOptions = {}): Promise<RateLimitResult> {
    const result = await RateLimiter.checkAll([
      { limiter: this, tenant, identifier, cost: costOf(options.cost) },
    ]);
    const [only] = result.results;
    return only ?? result;
  }

  /** Reads what remains without consuming (`success`: whether a request of cost 1 would pass). */
  peek(tenant: string, identifier: string): Promise<RateLimitResult> {
    return this.check(tenant, identifier, { cost: 0 });
  }

  /** Gives `cost` tokens back (a refund); the same as a check with a negative cost. */
  refund(tenant: string, identifier: string, cost = 1): Promise<RateLimitResult> {
    return this.check(tenant, identifier, { cost: -positiveInteger(cost, 'refund') });
  }

  /** Forgets everything `identifier` used: one DEL of its current keys, never a SCAN. */
  async reset(tenant: string, identifier: string): Promise<void> {
    const base = this.#base(tenant, identifier);
    this.#blocked.unblock(base);
    const keys = this.#keysAt(base, this.#now());
    this.#local.forget(keys);
    await this.redis.del(keys);
  }

  /**
   * Checks several limits at once, in one script: all pass and consume, or none consumes. All
   * limiters must share one database client. While its circuit is open the strictest outage
   * policy among them applies: `closed` before `local` before `open`.
   * @throws UpstashUnavailableError when the check failed while the circuit is still closed (the
   *   check may have consumed: it errs towards refusing, never admits past the limit)
   */
  static async checkAll(checks: readonly LimitCheck[]): Promise<MultiRateLimitResult> {
    const [first] = checks;
    if (!first) throw new ValidationError('checkAll needs at least one limit');
    const redis = first.limiter.redis;
    if (checks.some((c) => c.limiter.redis !== redis)) {
      throw new ValidationError('checkAll needs limiters on one database client');
    }
    const now = first.limiter.#now();
    const prepared = checks.map((c) => {
      const base = c.limiter.#base(c.tenant, c.identifier);
      return { ...c, base, cost: costOf(c.cost), keys: c.limiter.#keysAt(base, now) };
    });

    // Known blocked: the script would refuse, so skip it. Reads and refunds still go through.
    for (const [i, p] of prepared.entries()) {
      if (p.cost <= 0) continue;
      const until = p.limiter.#blocked.blockedUntil(p.base, now);
      if (until === null) continue;
      const refused: RateLimitResult = {
        success: false,
        limit: p.limiter.config.limit,
        remaining: 0,
        reset: until,
        reason: 'blocked-cache',
      };
      const results = prepared.map((q, j) =>
        j === i ? refused : { ...refused, limit: q.limiter.config.limit },
      );
      return { ...refused, results };
    }

    const circuit = first.limiter.circuit;
    if (circuit.permit() === 'skip') return RateLimiter.#duringOutage(prepared, now);
    // Counters this container consumed during an outage are raised into Redis first. Its own
    // round trip, once per identifier after an outage: in one pipeline a NOSCRIPT (the first call
    // after a Redis restart) would let the check run before the raise.
    const ahead = prepared.flatMap((p) =>
      p.limiter.outage === 'local' ? p.limiter.#local.ahead(now, p.keys) : [],
    );
    let raised = false;
    let reply: unknown;
    try {
      if (ahead.length > 0) {
        await RateLimiter.#raise(redis, now, ahead);
        raised = true;
      }
      const args: (string | number)[] = [now, prepared.length];
      for (const p of prepared) {
        const { algorithm, limit, windowMs, refillRate } = p.limiter.config;
        args.push(
          ALGORITHM_CODE[algorithm],
          limit,
          windowMs,
          algorithm === 'token-bucket' ? refillRate : 0,
          p.cost,
        );
      }
      reply = await runScript(
        redis,
        CHECK_SCRIPT,
        prepared.flatMap((p) => p.keys),
        args,
      );
      circuit.success();
    } catch (error) {
      if (!circuit.failure(error) || !(error instanceof UpstashUnavailableError)) throw error;
      return RateLimiter.#duringOutage(prepared, now);
    }
    if (raised) {
      for (const p of prepared) p.limiter.#local.caughtUp(p.keys);
    }

    const numbers = (reply as unknown[]).map(Number);
    const ok = numbers[0] === 1;
    const failedIndex = numbers[1] ?? 0;
    const states = prepared.map((_, i) => ({ a: numbers[2 + 2 * i] ?? 0, b: numbers[3 + 2 * i] ?? 0 }));
    for (const [i, p] of prepared.entries()) {
      if (p.limiter.outage === 'local')
        p.limiter.#local.mirror(now, p.limiter.config, p.keys, states[i] ?? { a: 0, b: 0 });
    }
    return RateLimiter.#summarize(prepared, now, ok, failedIndex, states, ok ? 'allowed' : 'limited');
  }

  /** Raises Redis's counters to what this container consumed during an outage. */
  static #raise(redis: RedisLike, now: number, ahead: readonly AheadEntry[]): Promise<unknown> {
    const args: (string | number)[] = [now];
    for (const e of ahead) {
      args.push(
        e.kind === 'bucket' ? 'b' : 'n',
        e.a,
        e.b,
        e.ttlMs,
        e.config.limit,
        e.config.windowMs,
        e.config.refillRate,
      );
    }
    return runScript(
      redis,
      RAISE_SCRIPT,
      ahead.map((e) => e.key),
      args,
    );
  }

  static #duringOutage(
    prepared: ReadonlyArray<LimitCheck & { base: string; cost: number; keys: string[] }>,
    now: number,
  ): MultiRateLimitResult {
    const policies = new Set(prepared.map((p) => p.limiter.outage));
    const blanket = (success: boolean): MultiRateLimitResult => {
      const results = prepared.map(
        (p): RateLimitResult => ({
          success,
          limit: p.limiter.config.limit,
          remaining: 0,
          reset: now + p.limiter.config.windowMs,
          reason: success ? 'outage-open' : 'outage-closed',
        }),
      );
      const [head] = results;
      if (!head) throw new ValidationError('checkAll needs at least one limit');
      return { ...head, results };
    };
    if (policies.has('closed')) return blanket(false);
    if (!policies.has('local')) return blanket(true);
    // Local: each limiter decides in its own memory; `open` limits among them pass. All or
    // nothing across limiters too, so read everything first (cost 0), then commit.
    const local = prepared.filter((p) => p.limiter.outage === 'local');
    const decide = (withCost: boolean) =>
      local.map(
        (p) =>
          p.limiter.#local.check(now, [
            { config: p.limiter.config, keys: p.keys, cost: withCost ? p.cost : 0 },
          ]).states[0] ?? { a: 0, b: 0 },
      );
    const before = decide(false);
    const failed = local.findIndex(
      (p, i) => p.cost > 0 && p.cost > remainingOf(p.limiter.config, now, before[i] ?? { a: 0, b: 0 }),
    );
    const states = failed >= 0 ? before : decide(true);
    const decided = RateLimiter.#summarize(local, now, failed < 0, failed + 1, states, 'outage-local');
    const open = blanket(true).results;
    let next = 0;
    const results = prepared.map((p, i) => {
      if (p.limiter.outage !== 'local') return open[i] as RateLimitResult;
      const r = decided.results[next] as RateLimitResult;
      next += 1;
      return r;
    });
    return { ...decided, results };
  }

  static #summarize(
    prepared: ReadonlyArray<LimitCheck & { base: string; cost: number }>,
    now: number,
    ok: boolean,
    failedIndex: number,
    states: readonly LimitState[],
    reason: RateLimitReason,
  ): MultiRateLimitResult {
    const results = prepared.map((p, i): RateLimitResult => {
      const state = states[i] ?? { a: 0, b: 0 };
      const { config } = p.limiter;
      const remaining = remainingOf(config, now, state);
      const reset = resetOf(config, now, state);
      const success = p.cost === 0 ? remaining >= 1 : ok;
      const limitReason: RateLimitReason = reason === 'allowed' && !ok ? 'limited' : reason;
      // Blocked for any positive cost: remember it so the next check needs no command.
      if (reason !== 'outage-local' && remaining < 1 && p.cost >= 0)
        p.limiter.#blocked.block(p.base, reset, now);
      if (p.cost < 0 && ok) p.limiter.#blocked.unblock(p.base);
      return { success, limit: config.limit, remaining, reset, reason: limitReason };
    });
    const decisive = !ok
      ? results[failedIndex - 1]
      : results.reduce<RateLimitResult | undefined>(
          (a, r) => (!a || r.remaining < a.remaining ? r : a),
          undefined,
        );
    if (!decisive) throw new ValidationError('checkAll needs at least one limit');
    const success = prepared.length === 1 && prepared[0]?.cost === 0 ? decisive.success : ok;
    return { ...decisive, success, reason: !ok && reason === 'allowed' ? 'limited' : reason, results };
  }
}
