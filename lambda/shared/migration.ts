import { CircuitBreaker } from './circuit-breaker';
import { ValidationError } from './errors';
import type { RedisLike, ServerKind, SetOptions } from './redis';
import { evalScript, scriptBySha, scriptTextFor } from './scripts';

/**
 * Migration from a self-hosted Redis to Upstash, in the client layer: a {@link RedisLike} that
 * sends each command to the old Redis, to Upstash or to both, by mode. The services do not know.
 *
 * - `off`: Upstash only (no migration configured).
 * - `shadow`: writes go to both; reads are served by the old Redis and compared with Upstash in
 *   the background (mismatches counted by key pattern, never by value). The old Redis is the
 *   source of truth: its failure fails the request.
 * - `rollout`: writes go to both; reads of a stable share of keys (FNV-1a of the key, or of its
 *   tenant) are served by Upstash, with the old Redis as fallback on a miss; the rest by the old
 *   Redis. Upstash holds the data by now (copied and verified), so a failing old Redis never
 *   fails a request: its share falls back to Upstash, and after a few failures in a row the old
 *   Redis is left alone for a cooldown (a circuit), so a dead one does not add its timeout to
 *   every request.
 * - `upstash`: cut over; the old Redis is no longer touched.
 */
export type MigrationMode = 'off' | 'shadow' | 'rollout' | 'upstash';

/** Every {@link MigrationMode}, in the order a migration goes through them. */
export const MIGRATION_MODES: readonly MigrationMode[] = ['off', 'shadow', 'rollout', 'upstash'];

/** What decides a key's side in `rollout`. */
export type RolloutBy = 'key' | 'tenant';

/** Counters of a router, for metrics and tests. */
export interface MigrationStats {
  /** Reads whose routing chose Upstash / the old Redis (the rollout share is upstash / total). */
  readonly routedUpstash: number;
  readonly routedLegacy: number;
  /** Reads Upstash missed and the old Redis answered (rollout). */
  readonly legacyFallbacks: number;
  /** Shadow comparisons made, and those that differed. */
  readonly compared: number;
  readonly mismatches: number;
  /** Commands the old Redis failed that the request survived. */
  readonly legacyFailures: number;
  /** Commands Upstash failed that the request survived (shadow writes). */
  readonly upstashFailures: number;
  /** Commands not sent to the old Redis while its circuit was open (rollout). */
  readonly legacySkipped: number;
}

/** Options of {@link MigrationRouter}. */
export interface MigrationRouterOptions {
  readonly upstash: RedisLike;
  /** The self-hosted Redis, over TCP. */
  readonly legacy: RedisLike;
  readonly mode: Exclude<MigrationMode, 'off' | 'upstash'>;
  /**
   * Share of reads Upstash serves in `rollout`, 0 to 100.
   * @default 0
   */
  readonly rolloutPercent?: number;
  /**
   * Whether a key's side follows the key itself or its tenant segment (so one tenant moves at once).
   * @default 'key'
   */
  readonly rolloutBy?: RolloutBy;
  /** Called with the key pattern (`prefix:feature:tenant:*`) of each shadow mismatch. */
  readonly onMismatch?: (pattern: string) => void;
  /**
   * In `rollout`, after this many consecutive old-Redis failures the router stops sending it
   * commands for `legacyCooldownMs`, then lets the next command probe it: a dead old Redis
   * otherwise costs every request its TCP timeout, though none fails.
   * @default 3
   */
  readonly legacyFailureThreshold?: number;
  /** @default 30_000 */
  readonly legacyCooldownMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** 32-bit FNV-1a of a string's UTF-16 code units: stable across processes and versions. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** The bucket of a key, 0 to 9999: a key is Upstash's in rollout when `bucket < percent * 100`. */
export function rolloutBucket(key: string, by: RolloutBy = 'key'): number {
  const unit = by === 'tenant' ? (key.split(':', 4)[2] ?? key) : key;
  return fnv1a(unit) % 10_000;
}

/** A key with its id replaced by `*`: what a log line may say about a key. */
export function keyPattern(key: string): string {
  const parts = key.split(':');
  return parts.length >= 4 ? `${parts.slice(0, 3).join(':')}:*` : '*';
}

const sameReply = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * TTLs the two sides may differ by and still count as equal in a shadow comparison: the two reads
 * happen milliseconds apart and the copy wrote each key's TTL a moment after reading it, so an
 * exact comparison would count every key with a TTL as a mismatch. The same tolerance as
 * `npm run migrate -- verify`.
 */
export const SHADOW_TTL_TOLERANCE_MS = 2_000;

/** Two PTTL replies agree: same state (gone, no expiry, expiring) and, if expiring, close. */
const samePttl = (a: number, b: number): boolean =>
  a < 0 || b < 0 ? a === b : Math.abs(a - b) <= SHADOW_TTL_TOLERANCE_MS;

/** The migration router; see {@link MigrationMode}. */
export class MigrationRouter implements RedisLike {
  /** Scripts come in Upstash's variant; the router translates them for the old Redis. */
  readonly kind: ServerKind;
  readonly #upstash: RedisLike;
  readonly #legacy: RedisLike;
  readonly #mode: 'shadow' | 'rollout';
  readonly #threshold: number;
  readonly #by: RolloutBy;
  readonly #onMismatch: (pattern: string) => void;
  readonly #pending = new Set<Promise<void>>();
  #taken: MigrationStats | undefined;
  #patterns = new Map<string, number>();
  readonly #stats = {
    routedUpstash: 0,
    routedLegacy: 0,
    legacyFallbacks: 0,
    compared: 0,
    mismatches: 0,
    legacyFailures: 0,
    upstashFailures: 0,
    legacySkipped: 0,
  };
  /** The old Redis's circuit: the one breaker rule, with every failure of it counting. */
  readonly #legacyCircuit: CircuitBreaker;

  constructor(options: MigrationRouterOptions) {
    const percent = options.rolloutPercent ?? 0;
    if (!(percent >= 0 && percent <= 100)) {
      throw new ValidationError(`rolloutPercent must be from 0 to 100, got ${percent}`);
    }
    this.#upstash = options.upstash;
    this.#legacy = options.legacy;
    this.kind = options.upstash.kind;
    this.#mode = options.mode;
    this.#threshold = Math.round(percent * 100);
    this.#by = options.rolloutBy ?? 'key';
    this.#onMismatch = options.onMismatch ?? (() => {});
    const cooldownMs = options.legacyCooldownMs ?? 30_000;
    this.#legacyCircuit = new CircuitBreaker({
      failureThreshold: options.legacyFailureThreshold ?? 3,
      // A fixed cooldown: the old Redis is on its way out, no need to probe it sooner.
      firstProbeMs: cooldownMs,
      probeIntervalMs: cooldownMs,
      // Whatever the old Redis throws counts: its errors are not the managed client's.
      isFailure: () => true,
      ...(options.now ? { now: options.now } : {}),
    });
  }

  /**
   * Whether the old Redis is skipped for now: its circuit is open and this is not the probe
   * (rollout only: in shadow it is the source of truth, so its failures must reach the caller).
   */
  #legacyOpen(): boolean {
    if (this.#mode !== 'rollout' || this.#legacyCircuit.permit() !== 'skip') return false;
    this.#stats.legacySkipped += 1;
    return true;
  }

  /** Runs a command on the old Redis, reporting its outcome to the circuit. */
  async #onLegacy<T>(run: () => Promise<T>): Promise<T> {
    try {
      const value = await run();
      this.#legacyCircuit.success();
      return value;
    } catch (error) {
      this.#legacyCircuit.failure(error);
      throw error;
    }
  }

  /** A copy of the counters. */
  stats(): MigrationStats {
    return { ...this.#stats };
  }

  /**
   * What changed since the last call: counter deltas, and the key patterns that mismatched with
   * their counts (for one metric flush and one log line per invocation).
   */
  takeDelta(): { counters: MigrationStats; mismatchPatterns: Record<string, number> } {
    const now = this.stats();
    const before = this.#taken;
    this.#taken = now;
    const counters = Object.fromEntries(
      Object.entries(now).map(([name, value]) => [
        name,
        value - (before?.[name as keyof MigrationStats] ?? 0),
      ]),
    ) as unknown as MigrationStats;
    const mismatchPatterns = Object.fromEntries(this.#patterns);
    this.#patterns = new Map();
    return { counters, mismatchPatterns };
  }

  /** Waits for the background shadow comparisons started so far (call before a Lambda returns). */
  async settle(): Promise<void> {
    await Promise.all([...this.#pending]);
  }

  /** Whether Upstash serves `key` (always false in shadow). */
  servesFromUpstash(key: string): boolean {
    return this.#mode === 'rollout' && rolloutBucket(key, this.#by) < this.#threshold;
  }

  /** Runs a read where the mode says; `keys[0]` decides in rollout. */
  async #read<T>(
    keys: readonly string[],
    op: (redis: RedisLike) => Promise<T>,
    isMiss: (v: T) => boolean,
    same: (a: T, b: T) => boolean = sameReply,
  ): Promise<T> {
    const key = keys[0] ?? '';
    if (this.#mode === 'shadow') {
      this.#stats.routedLegacy += 1;
      const value = await op(this.#legacy);
      this.#compare(key, op, value, same);
      return value;
    }
    if (this.servesFromUpstash(key)) {
      this.#stats.routedUpstash += 1;
      const value = await op(this.#upstash);
      if (!isMiss(value) || this.#legacyOpen()) return value;
      try {
        const fallback = await this.#onLegacy(() => op(this.#legacy));
        if (!isMiss(fallback)) this.#stats.legacyFallbacks += 1;
        return isMiss(fallback) ? value : fallback;
      } catch {
        this.#stats.legacyFailures += 1;
        return value;
      }
    }
    if (this.#legacyOpen()) {
      this.#stats.routedUpstash += 1;
      return op(this.#upstash);
    }
    this.#stats.routedLegacy += 1;
    try {
      return await this.#onLegacy(() => op(this.#legacy));
    } catch {
      // Upstash holds the data in rollout: the old Redis failing costs no request.
      this.#stats.legacyFailures += 1;
      return op(this.#upstash);
    }
  }

  #compare<T>(
    key: string,
    op: (redis: RedisLike) => Promise<T>,
    expected: T,
    same: (a: T, b: T) => boolean,
  ): void {
    const check = op(this.#upstash).then(
      (actual) => {
        this.#stats.compared += 1;
        if (!same(actual, expected)) {
          this.#stats.mismatches += 1;
          const pattern = keyPattern(key);
          this.#patterns.set(pattern, (this.#patterns.get(pattern) ?? 0) + 1);
          this.#onMismatch(pattern);
        }
      },
      () => {
        this.#stats.upstashFailures += 1;
      },
    );
    this.#pending.add(check);
    void check.finally(() => this.#pending.delete(check));
  }

  /** Runs a write on both; the reply comes from the side that serves the key. */
  async #write<T>(
    keys: readonly string[],
    onUpstash: () => Promise<T>,
    onLegacy: () => Promise<T>,
  ): Promise<T> {
    if (this.#legacyOpen()) return onUpstash();
    const upstashFirst = this.servesFromUpstash(keys[0] ?? '');
    const [u, l] = await Promise.allSettled([onUpstash(), this.#onLegacy(onLegacy)]);
    if (upstashFirst) {
      if (l.status === 'rejected') this.#stats.legacyFailures += 1;
      if (u.status === 'rejected') throw u.reason;
      return u.value;
    }
    if (u.status === 'rejected') this.#stats.upstashFailures += 1;
    if (l.status === 'fulfilled') return l.value;
    if (this.#mode === 'rollout' && u.status === 'fulfilled') {
      this.#stats.legacyFailures += 1;
      return u.value;
    }
    throw l.reason;
  }

  get(key: string): Promise<string | null> {
    return this.#read(
      [key],
      (r) => r.get(key),
      (v) => v === null,
    );
  }

  mget(keys: readonly string[]): Promise<Array<string | null>> {
    return this.#read(
      keys,
      (r) => r.mget(keys),
      (v) => v.every((x) => x === null),
    );
  }

  exists(keys: readonly string[]): Promise<number> {
    return this.#read(
      keys,
      (r) => r.exists(keys),
      (v) => v === 0,
    );
  }

  pttl(key: string): Promise<number> {
    return this.#read(
      [key],
      (r) => r.pttl(key),
      (v) => v === -2,
      samePttl,
    );
  }

  scan(cursor: string, match: string, count: number): Promise<[string, string[]]> {
    // A cursor belongs to one server: shadow walks the old Redis, rollout Upstash (it has it all).
    const side = this.#mode === 'shadow' ? this.#legacy : this.#upstash;
    return side.scan(cursor, match, count);
  }

  set(key: string, value: string, options?: SetOptions): Promise<boolean> {
    return this.#write(
      [key],
      () => this.#upstash.set(key, value, options),
      () => this.#legacy.set(key, value, options),
    );
  }

  del(keys: readonly string[]): Promise<number> {
    return this.#write(
      keys,
      () => this.#upstash.del(keys),
      () => this.#legacy.del(keys),
    );
  }

  unlink(keys: readonly string[]): Promise<number> {
    return this.#write(
      keys,
      () => this.#upstash.unlink(keys),
      () => this.#legacy.unlink(keys),
    );
  }

  evalsha(sha: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const script = scriptBySha(sha);
    // Each side loads a script it lacks on its own: a NOSCRIPT from one side must not make the
    // caller re-send the script to both (the other side would run it twice).
    const run = (side: RedisLike): Promise<unknown> =>
      script ? evalScript(side, script, keys, args) : side.evalsha(sha, keys, args);
    return this.#write(
      keys,
      () => run(this.#upstash),
      () => run(this.#legacy),
    );
  }

  eval(script: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.#write(
      keys,
      () => this.#upstash.eval(scriptTextFor(script, this.#upstash.kind), keys, args),
      () => this.#legacy.eval(scriptTextFor(script, this.#legacy.kind), keys, args),
    );
  }

  ping(): Promise<string> {
    return this.#upstash.ping();
  }
}
