import { randomBytes } from 'node:crypto';
import { CircuitBreaker, circuitFor } from '../../shared/circuit-breaker';
import { DEFAULTS } from '../../shared/config';
import {
  ConflictError,
  NotFoundError,
  PayloadTooLargeError,
  UpstashUnavailableError,
  ValidationError,
} from '../../shared/errors';
import { stringifyJson } from '../../shared/json';
import { type KeyBuilder, validateId } from '../../shared/keys';
import { type RedisClient, type RedisLike, toRedisLike } from '../../shared/redis';
import { runScript } from '../../shared/scripts';
import { MemoryLru } from './memory-lru';
import { STORE_AND_UNLOCK_SCRIPT, UNLOCK_SCRIPT, VALUE_OR_LOCK_SCRIPT } from './scripts';

/** Which store answers: Upstash, or the in-container LRU while Upstash is unreachable. */
export type CacheBackend = 'upstash' | 'fallback';

/** A cache hit: the value is wrapped so a cached `null` is told apart from a miss (`null`). */
export interface CacheHit<T> {
  readonly value: T;
  /** Where it came from: the shared cache, or this container's fallback LRU (maybe stale). */
  readonly backend: CacheBackend;
}

/**
 * What a write did: `true` stored in Upstash (every container reads it), `false` not written
 * because `nx`/`xx` prevented it, `'local'` stored only in this container's fallback LRU (only
 * with `localWrites`, while Upstash is unreachable).
 */
export type CacheWriteResult = boolean | 'local';

/** In-container counters: kept in memory so a hit stays one command. */
export interface CacheStats {
  hits: number;
  misses: number;
  sets: number;
  /** getOrSet loader runs in this container. */
  loads: number;
  /** Calls answered from the fallback LRU. */
  fallbackServed: number;
}

/** Options of {@link CacheService.set} and {@link CacheService.mset}. */
export interface CacheSetOptions {
  /**
   * Time to live in ms.
   * @default - the service's `defaultTtlMs`
   */
  readonly ttlMs?: number;
  /** Write only when the key does not exist. @default false */
  readonly nx?: boolean;
  /** Write only when the key exists. @default false */
  readonly xx?: boolean;
}

/** Options of {@link CacheService.getOrSet}. */
export interface GetOrSetOptions {
  /**
   * Time to live of the loaded value, in ms.
   * @default - the service's `defaultTtlMs`
   */
  readonly ttlMs?: number;
  /**
   * XFetch early refresh factor (beta): before expiry, one caller refreshes with a probability
   * that grows as expiry nears and with how long the loader took. 0 turns it off.
   * @default 1
   */
  readonly beta?: number;
}

/** Options of {@link CacheService}. */
export interface CacheServiceOptions {
  /**
   * The database client (an evicting, allkeys-lru database suits a cache): a client of
   * `createClient`, or a plain `@upstash/redis` one (its outages are classified all the same).
   */
  readonly redis: RedisClient;
  /** The key builder; keys are `cache` keys of the tenant. */
  readonly keys: KeyBuilder;
  /**
   * TTL of values written without one, in ms.
   * @default 300000 (5 min)
   */
  readonly defaultTtlMs?: number;
  /**
   * Largest value, in UTF-8 bytes of its JSON; larger ones throw PayloadTooLargeError (413) and
   * nothing is written.
   * @default 102400
   */
  readonly maxValueBytes?: number;
  /**
   * Serve reads from an in-container LRU while Upstash is unreachable (UpstashUnavailableError);
   * off, the error propagates.
   * @default true (`DEFAULTS.cache.fallback`, as deployed)
   */
  readonly fallback?: boolean;
  /** @default 1000 */
  readonly fallbackMaxEntries?: number;
  /** @default 16777216 (16 MiB) */
  readonly fallbackMaxBytes?: number;
  /**
   * While the fallback circuit is open, accept writes into this container's LRU, answered
   * `'local'` (never `true`: other containers do not see them, and they are lost with this one).
   * Deletes never succeed locally only.
   * @default false - writes throw UpstashUnavailableError (`outcome: 'not-applied'`)
   */
  readonly localWrites?: boolean;
  /**
   * Failed round trips in a row that open the circuit (calls then skip Upstash); see
   * `lambda/shared/circuit-breaker.ts` for the whole rule.
   * @default 3
   */
  readonly failureThreshold?: number;
  /**
   * While the circuit is open, the longest wait between two probes of Upstash, in ms (the first
   * probe comes after 1 s, doubling while probes fail).
   * @default 30000
   */
  readonly probeIntervalMs?: number;
  /**
   * The circuit breaker.
   * @default - the database client's (`circuitFor(redis)`), shared by every service on it; a
   *   breaker of its own when `failureThreshold` or `probeIntervalMs` is given
   */
  readonly circuit?: CircuitBreaker;
  /**
   * Lifetime of the getOrSet stampede lock, in ms: a crashed loader blocks others this long.
   * @default 5000
   */
  readonly lockTtlMs?: number;
  /**
   * How long a getOrSet caller waits for another container's loader, in ms, before running the
   * loader itself.
   * @default 5000
   */
  readonly lockWaitMs?: number;
  /**
   * Namespaces invalidated in O(1) ({@link CacheService.invalidateNamespace}): a key whose first
   * `:`-separated segment names one (`products:42` in `products`) is stored under its
   * namespace's current generation; a bump of the generation (one command) makes every value of
   * the namespace unreachable at once, and the orphans age out by their TTL. Names: 1-64 of
   * A-Z, a-z, 0-9, `_`, `-`.
   * @default - none: every key is plain (prefix invalidation with SCAN only)
   */
  readonly namespaces?: readonly string[];
  /**
   * The clock, in epoch ms.
   * @default Date.now
   */
  readonly now?: () => number;
}

/** Namespace names: one key segment, nothing a SCAN pattern reads as a glob. */
export const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** Characters of a generation: fixed, so a pattern can step over it with `?`. */
const GENERATION_CHARS = 8;
/** Generations one container remembers (per tenant and namespace); the oldest are forgotten. */
const MAX_GENERATIONS = 10_000;
const newGeneration = (): string => randomBytes(6).toString('base64url');
/** Stands for a generation this container never saw (shorter than any real one). */
const UNSEEN = 'unseen';

/** What is stored: `1|<expiresAt>|<loaderMs>|<json>`. */
interface Envelope {
  readonly expiresAt: number;
  readonly deltaMs: number;
  readonly json: string;
}

const ENVELOPE_VERSION = '1';

function parseEnvelope(raw: string | null): Envelope | null {
  if (raw === null) return null;
  const a = raw.indexOf('|');
  const b = raw.indexOf('|', a + 1);
  const c = raw.indexOf('|', b + 1);
  // Something we did not write reads as a miss rather than as garbage.
  if (a < 0 || b < 0 || c < 0 || raw.slice(0, a) !== ENVELOPE_VERSION) return null;
  return {
    expiresAt: Number(raw.slice(a + 1, b)),
    deltaMs: Number(raw.slice(b + 1, c)),
    json: raw.slice(c + 1),
  };
}

const formatEnvelope = (expiresAt: number, deltaMs: number, json: string): string =>
  `${ENVELOPE_VERSION}|${expiresAt}|${deltaMs}|${json}`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A JSON cache on Upstash, namespaced by tenant: a hit is one command and one round trip;
 * `getOrSet` protects against stampedes (single-flight in the container, one loader per key
 * across containers) and refreshes early in the XFetch manner; with `fallback`, an outage is
 * served from a bounded in-container LRU behind a circuit breaker.
 *
 * Keys: values live at `<prefix>:cache:<tenant>:v:<key>`, stampede locks at `...:l:<key>`; a key
 * of a declared namespace `ns` at `...:v:<ns>:@<generation>:<rest>`, the namespace's generation
 * at `...:g:<ns>`. This class is the only place that knows it (the invalidation job calls
 * {@link CacheService.invalidatePrefix}).
 *
 * Namespaces: a container remembers each namespace's generation and checks it in the same round
 * trip as every read and write (the generation's GET goes with the command, auto-pipelined), so a
 * read of a namespaced key stays one round trip (two commands), and a bump is seen by the next
 * request of every container. Generations are random, not counted: in an evicting database the
 * generation key itself may be evicted, and a counter starting over would bring old values back.
 *
 * @example
 * const cache = new CacheService({ redis, keys, defaultTtlMs: 60_000, fallback: true });
 * await cache.set('acme', 'user:42', { name: 'Ada' });
 * const hit = await cache.get<{ name: string }>('acme', 'user:42'); // { value: { name: 'Ada' } } or null
 * const user = await cache.getOrSet('acme', 'user:42', () => db.user(42), { ttlMs: 60_000 });
 */
export class CacheService {
  readonly #redis: RedisLike;
  readonly #keys: KeyBuilder;
  readonly #defaultTtl: number;
  readonly #maxBytes: number;
  readonly #fallback: boolean;
  readonly #lru: MemoryLru;
  readonly #localWrites: boolean;
  readonly #circuit: CircuitBreaker;
  readonly #lockTtl: number;
  readonly #lockWait: number;
  readonly #now: () => number;
  readonly #flights = new Map<string, Promise<unknown>>();
  readonly #namespaces: ReadonlySet<string>;
  /** The last generation seen of each namespace key (`...:g:<ns>`). */
  readonly #generations = new Map<string, string>();
  readonly #stats: CacheStats = { hits: 0, misses: 0, sets: 0, loads: 0, fallbackServed: 0 };

  constructor(options: CacheServiceOptions) {
    this.#redis = toRedisLike(options.redis);
    this.#keys = options.keys;
    this.#defaultTtl = CacheService.#ttl(options.defaultTtlMs ?? DEFAULTS.cache.defaultTtlMs);
    this.#maxBytes = options.maxValueBytes ?? DEFAULTS.cache.maxValueBytes;
    this.#fallback = options.fallback ?? DEFAULTS.cache.fallback;
    this.#lru = new MemoryLru(
      options.fallbackMaxEntries ?? 1000,
      options.fallbackMaxBytes ?? 16 * 1024 * 1024,
    );
    this.#localWrites = options.localWrites ?? DEFAULTS.cache.localWrites;
    this.#now = options.now ?? Date.now;
    const tuned = options.failureThreshold !== undefined || options.probeIntervalMs !== undefined;
    this.#circuit =
      options.circuit ??
      (tuned
        ? new CircuitBreaker({
            ...(options.failureThreshold !== undefined ? { failureThreshold: options.failureThreshold } : {}),
            ...(options.probeIntervalMs !== undefined ? { probeIntervalMs: options.probeIntervalMs } : {}),
            now: this.#now,
          })
        : circuitFor(this.#redis));
    this.#lockTtl = CacheService.#ttl(options.lockTtlMs ?? 5000);
    this.#lockWait = options.lockWaitMs ?? 5000;
    for (const name of options.namespaces ?? []) {
      if (!NAMESPACE.test(name)) {
        throw new ValidationError(
          `namespace must be 1-64 characters of A-Z, a-z, 0-9, "_" or "-", got ${JSON.stringify(name)}`,
        );
      }
    }
    this.#namespaces = new Set(options.namespaces ?? []);
  }

  static #ttl(ms: number): number {
    if (!Number.isSafeInteger(ms) || ms <= 0)
      throw new ValidationError(`ttl must be a positive integer of ms, got ${ms}`);
    return ms;
  }

  /** `fallback` while the circuit is open (Upstash counts as down here), else `upstash`. */
  get backend(): CacheBackend {
    return this.#fallback && this.#circuit.isOpen ? 'fallback' : 'upstash';
  }

  /** A copy of this container's counters. */
  stats(): CacheStats {
    return { ...this.#stats };
  }

  /** The declared namespaces. */
  get namespaces(): readonly string[] {
    return [...this.#namespaces];
  }

  /**
   * The Redis key of a cache key (validated: throws ValidationError). A key of a declared
   * namespace needs the `generation` it is stored under.
   */
  keyOf(tenant: string, key: string, generation?: string): string {
    const ns = this.#namespaceOf(key);
    if (ns === undefined) return this.#keys.key('cache', tenant, `v:${key}`);
    this.#keys.key('cache', tenant, key); // validates the whole key first, so its error names it
    if (generation === undefined) {
      throw new ValidationError(`key "${key}" is in namespace "${ns}": its Redis key needs a generation`);
    }
    return this.#keys.key('cache', tenant, `v:${ns}:@${generation}:${key.slice(ns.length + 1)}`);
  }

  /** The namespace a key is in: its first segment, when a declared namespace. */
  #namespaceOf(key: string): string | undefined {
    const at = key.indexOf(':');
    if (at <= 0) return undefined;
    const ns = key.slice(0, at);
    return this.#namespaces.has(ns) ? ns : undefined;
  }

  #generationKey(tenant: string, ns: string): string {
    return this.#keys.key('cache', tenant, `g:${ns}`);
  }

  /**
   * The SCAN MATCH pattern of a tenant's values whose key starts with `prefix`. Inside a
   * namespace the generation's fixed width is stepped over with `?`, so every generation's values
   * match (the orphans of earlier ones too).
   */
  pattern(tenant: string, prefix = ''): string {
    const ns = this.#namespaceOf(prefix);
    if (ns === undefined || prefix.length === ns.length + 1)
      return this.#keys.pattern('cache', tenant, `v:${prefix}`);
    const rest = validateId(prefix.slice(ns.length + 1), 'prefix');
    return `${this.#keys.pattern('cache', tenant, `v:${ns}:@`).slice(0, -1)}${'?'.repeat(GENERATION_CHARS)}:${rest}*`;
  }

  /**
   * Invalidates every value of a declared namespace of `tenant` at once: one command (SET of a new
   * generation), whatever the namespace holds. The old values are never served again (every read
   * checks the generation in the same round trip) and age out by their TTL.
   * @throws NotFoundError for a namespace not declared; UpstashUnavailableError when it could not
   *   be done (never local only)
   */
  async invalidateNamespace(tenant: string, namespace: string): Promise<void> {
    if (!this.#namespaces.has(namespace)) {
      throw new NotFoundError(`no cache namespace named "${namespace}" is declared (cache.namespaces)`);
    }
    const genKey = this.#generationKey(tenant, namespace);
    const next = newGeneration();
    await this.#acknowledged([], () => this.#redis.set(genKey, next));
    this.#remember(genKey, next);
  }

  #remember(genKey: string, generation: string): void {
    this.#generations.delete(genKey);
    this.#generations.set(genKey, generation);
    if (this.#generations.size > MAX_GENERATIONS) {
      const oldest = this.#generations.keys().next().value;
      if (oldest !== undefined) this.#generations.delete(oldest);
    }
  }

  /** A namespace's generation from Redis, made when it has none yet (or it was evicted). */
  async #fetchGeneration(genKey: string): Promise<string> {
    const current = await this.#redis.get(genKey);
    if (current !== null) return current;
    const mine = newGeneration();
    return (await this.#redis.set(genKey, mine, { nx: true }))
      ? mine
      : ((await this.#redis.get(genKey)) ?? mine);
  }

  /**
   * Runs `op` on the Redis key of `key` at its namespace's current generation: the generation's
   * GET and `op` leave in the same tick (one round trip); when the generation changed meanwhile
   * `op` runs again at the new one. A plain key runs `op` once.
   */
  async #atGeneration<R>(
    tenant: string,
    key: string,
    op: (redisKey: string) => Promise<R>,
  ): Promise<{ value: R; redisKey: string }> {
    const ns = this.#namespaceOf(key);
    if (ns === undefined) {
      const redisKey = this.keyOf(tenant, key);
      return { value: await op(redisKey), redisKey };
    }
    const genKey = this.#generationKey(tenant, ns);
    let generation = this.#generations.get(genKey) ?? (await this.#fetchGeneration(genKey));
    for (let attempt = 0; attempt < 3; attempt++) {
      const redisKey = this.keyOf(tenant, key, generation);
      const [current, value] = await Promise.all([this.#redis.get(genKey), op(redisKey)]);
      if (current === generation) {
        this.#remember(genKey, generation);
        return { value, redisKey };
      }
      // Bumped (or evicted) since this container last looked: run again at the current one.
      generation = current ?? (await this.#fetchGeneration(genKey));
      this.#remember(genKey, generation);
    }
    throw new ConflictError(`the generation of cache namespace "${ns}" keeps changing`);
  }

  /**
   * The Redis key of `key` at the generation this container last saw: what the fallback LRU holds
   * it under while Upstash is away (a generation never seen reads as a miss there).
   */
  #lastKnownKey(tenant: string, key: string): string {
    const ns = this.#namespaceOf(key);
    if (ns === undefined) return this.keyOf(tenant, key);
    return this.keyOf(tenant, key, this.#generations.get(this.#generationKey(tenant, ns)) ?? UNSEEN);
  }

  /**
   * Deletes every value of `tenant` whose key starts with `prefix` (`""`: all of them): SCAN MATCH
   * {@link CacheService.pattern} in steps and UNLINK per step, never KEYS (which blocks the server
   * for the whole keyspace). Key ids cannot hold glob characters, so the pattern reaches no other
   * prefix or tenant. Always on Upstash, never the fallback: an invalidation that cannot reach it
   * throws. Cost: one SCAN per `batch` keys of the whole database, one UNLINK per step that found
   * values. A declared namespace is invalidated in one command instead
   * ({@link CacheService.invalidateNamespace}).
   *
   * @returns the number of values deleted
   */
  async invalidatePrefix(
    tenant: string,
    prefix: string,
    options: { readonly batch?: number; readonly signal?: AbortSignal } = {},
  ): Promise<number> {
    const pattern = this.pattern(tenant, prefix);
    const batch = options.batch ?? 1_000;
    let cursor = '0';
    let deleted = 0;
    do {
      options.signal?.throwIfAborted();
      const [next, found] = await this.#redis.scan(cursor, pattern, batch);
      // SCAN may return a key twice; UNLINK counts only what it removed, so `deleted` stays exact.
      if (found.length > 0) deleted += await this.#redis.unlink(found);
      for (const key of found) this.#lru.delete(key);
      cursor = next;
    } while (cursor !== '0');
    return deleted;
  }

  #lockOf(tenant: string, key: string): string {
    return this.#keys.key('cache', tenant, `l:${key}`);
  }

  #encode(value: unknown): string {
    // The one JSON path: depth-checked, so what is stored can always be read back and answered.
    const json = stringifyJson(value, 'the cache value');
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes > this.#maxBytes) {
      throw new PayloadTooLargeError(`value is ${bytes} bytes, above the limit of ${this.#maxBytes}`);
    }
    return json;
  }

  /**
   * A read (or a best-effort cache fill): `remote` on Upstash, or `local` on the LRU while the
   * circuit is open or when Upstash fails with UpstashUnavailableError (with fallback on;
   * otherwise the error propagates). Says which one answered.
   */
  async #read<R>(remote: () => Promise<R>, local: () => R): Promise<{ value: R; backend: CacheBackend }> {
    if (!this.#fallback) return { value: await remote(), backend: 'upstash' };
    if (this.#circuit.permit() === 'skip') return { value: this.#local(local), backend: 'fallback' };
    try {
      const value = await remote();
      this.#circuit.success();
      return { value, backend: 'upstash' };
    } catch (error) {
      this.#circuit.failure(error);
      if (!(error instanceof UpstashUnavailableError)) throw error;
      return { value: this.#local(local), backend: 'fallback' };
    }
  }

  /**
   * A write a caller is told about: `remote` on Upstash; while the circuit is open, or when
   * Upstash fails, `local` on the LRU if there is one and `localWrites` is on (its result then
   * reads `'local'`), else UpstashUnavailableError: a write that did not reach Upstash is never
   * reported as stored. After a failure the LRU forgets `redisKeys`: what Upstash holds is unknown.
   */
  async #acknowledged<R, L = never>(
    redisKeys: readonly string[],
    remote: () => Promise<R>,
    local?: () => L,
  ): Promise<
    { readonly where: 'upstash'; readonly value: R } | { readonly where: 'local'; readonly value: L }
  > {
    if (!this.#fallback) return { where: 'upstash', value: await remote() };
    const localOnly = (run: () => L) => ({ where: 'local' as const, value: this.#local(run) });
    if (this.#circuit.permit() === 'skip') {
      if (local && this.#localWrites) return localOnly(local);
      throw new UpstashUnavailableError('the cache fallback circuit is open: writes are refused', {
        outcome: 'not-applied',
      });
    }
    try {
      const value = await remote();
      this.#circuit.success();
      return { where: 'upstash', value };
    } catch (error) {
      this.#circuit.failure(error);
      if (!(error instanceof UpstashUnavailableError)) throw error;
      if (local && this.#localWrites) return localOnly(local);
      for (const key of redisKeys) this.#lru.delete(key);
      throw error;
    }
  }

  #local<R>(local: () => R): R {
    this.#stats.fallbackServed += 1;
    return local();
  }

  /** Mirrors what Upstash holds into the LRU, so an outage has something to serve. */
  #mirror(redisKey: string, raw: string | null): void {
    if (!this.#fallback) return;
    const envelope = parseEnvelope(raw);
    if (raw === null || !envelope) this.#lru.delete(redisKey);
    else this.#lru.set(redisKey, raw, envelope.expiresAt || this.#now() + this.#defaultTtl);
  }

  async #getRaw(
    tenant: string,
    key: string,
  ): Promise<{ value: string | null; backend: CacheBackend; redisKey: string }> {
    let redisKey = '';
    const read = await this.#read(
      async () => {
        const got = await this.#atGeneration(tenant, key, (k) => this.#redis.get(k));
        redisKey = got.redisKey;
        this.#mirror(redisKey, got.value);
        return got.value;
      },
      () => {
        redisKey = this.#lastKnownKey(tenant, key);
        return this.#lru.get(redisKey, this.#now());
      },
    );
    return { ...read, redisKey };
  }

  #hit<T>(raw: string | null, backend: CacheBackend): CacheHit<T> | null {
    const envelope = parseEnvelope(raw);
    if (!envelope) {
      this.#stats.misses += 1;
      return null;
    }
    this.#stats.hits += 1;
    return { value: JSON.parse(envelope.json) as T, backend };
  }

  /**
   * Reads a value: `{ value, backend }` on a hit (the value may be `null`), `null` on a miss.
   * One command.
   */
  async get<T = unknown>(tenant: string, key: string): Promise<CacheHit<T> | null> {
    const { value, backend } = await this.#getRaw(tenant, key);
    return this.#hit<T>(value, backend);
  }

  /**
   * Writes a JSON value (any JSON value, `null` included) with a TTL. One command.
   * @returns `true` when stored in Upstash, `false` when `nx`/`xx` prevented it, `'local'` when
   *   stored only in this container (`localWrites`, during an outage).
   * @throws UpstashUnavailableError when it did not reach Upstash (and `localWrites` is off):
   *   `outcome` says whether it may have been applied.
   */
  async set(
    tenant: string,
    key: string,
    value: unknown,
    options: CacheSetOptions = {},
  ): Promise<CacheWriteResult> {
    const lastKnown = this.#lastKnownKey(tenant, key);
    if (options.nx && options.xx) throw new ValidationError('nx and xx exclude each other');
    const ttl = CacheService.#ttl(options.ttlMs ?? this.#defaultTtl);
    const json = this.#encode(value);
    const written = await this.#acknowledged(
      [lastKnown],
      async () =>
        (await this.#atGeneration(tenant, key, (k) => this.#setRemote(k, json, ttl, 0, options))).value,
      () => this.#setLocal(lastKnown, json, ttl, 0, options),
    );
    const result: CacheWriteResult =
      written.where === 'local' ? (written.value ? 'local' : false) : written.value;
    if (result !== false) this.#stats.sets += 1;
    return result;
  }

  async #setRemote(
    redisKey: string,
    json: string,
    ttl: number,
    deltaMs: number,
    options: CacheSetOptions = {},
  ): Promise<boolean> {
    const expiresAt = this.#now() + ttl;
    const raw = formatEnvelope(expiresAt, deltaMs, json);
    const ok = await this.#redis.set(redisKey, raw, { px: ttl, nx: options.nx, xx: options.xx });
    if (ok && this.#fallback) this.#lru.set(redisKey, raw, expiresAt);
    return ok;
  }

  /** The same write into the LRU; `false` when nx/xx prevent it. */
  #setLocal(
    redisKey: string,
    json: string,
    ttl: number,
    deltaMs: number,
    options: CacheSetOptions = {},
  ): boolean {
    const now = this.#now();
    const exists = this.#lru.get(redisKey, now) !== null;
    if ((options.nx && exists) || (options.xx && !exists)) return false;
    // The TTL runs from now: the failed attempt at Upstash may have taken a while.
    this.#lru.set(redisKey, formatEnvelope(now + ttl, deltaMs, json), now + ttl);
    return true;
  }

  /**
   * Deletes a value. One command. Never local only: while Upstash is unreachable it throws
   * UpstashUnavailableError (and this container's LRU forgets the key).
   * @returns whether it existed.
   */
  async delete(tenant: string, key: string): Promise<boolean> {
    const lastKnown = this.#lastKnownKey(tenant, key);
    const removed = await this.#acknowledged([lastKnown], async () => {
      const { value: n, redisKey } = await this.#atGeneration(tenant, key, (k) => this.#redis.del([k]));
      this.#lru.delete(redisKey);
      return n > 0;
    });
    return removed.value;
  }

  /** Whether a value exists. One command. */
  async exists(tenant: string, key: string): Promise<boolean> {
    const { value } = await this.#read(
      async () => (await this.#atGeneration(tenant, key, (k) => this.#redis.exists([k]))).value > 0,
      () => this.#lru.get(this.#lastKnownKey(tenant, key), this.#now()) !== null,
    );
    return value;
  }

  /**
   * Remaining time to live in ms: `null` when the key does not exist, `Infinity` for a key
   * without expiry (never written by this service). One command.
   */
  async ttl(tenant: string, key: string): Promise<number | null> {
    const { value } = await this.#read(
      async () => {
        const { value: ms } = await this.#atGeneration(tenant, key, (k) => this.#redis.pttl(k));
        return ms === -2 ? null : ms === -1 ? Number.POSITIVE_INFINITY : ms;
      },
      () => this.#lru.ttl(this.#lastKnownKey(tenant, key), this.#now()),
    );
    return value;
  }

  /**
   * Reads several values in one command (MGET), in order; each a hit or `null`. The generations
   * of the namespaces among them are read in the same MGET; a key whose generation changed is read
   * again at the new one.
   */
  async mget<T = unknown>(tenant: string, keys: readonly string[]): Promise<Array<CacheHit<T> | null>> {
    if (keys.length === 0) return [];
    for (const key of keys) this.#keys.key('cache', tenant, key); // validated before any command
    const { value: raws, backend } = await this.#read(
      async () => {
        const genKeys = [
          ...new Set(
            keys.flatMap((key) => {
              const ns = this.#namespaceOf(key);
              return ns === undefined ? [] : [this.#generationKey(tenant, ns)];
            }),
          ),
        ];
        for (const genKey of genKeys) {
          if (!this.#generations.has(genKey)) this.#remember(genKey, await this.#fetchGeneration(genKey));
        }
        const redisKeys = keys.map((key) => this.#lastKnownKey(tenant, key));
        const values = await this.#redis.mget([...genKeys, ...redisKeys]);
        const stale = new Set<string>();
        genKeys.forEach((genKey, i) => {
          if (values[i] !== this.#generations.get(genKey)) stale.add(genKey);
        });
        return Promise.all(
          keys.map(async (key, i) => {
            const ns = this.#namespaceOf(key);
            if (ns !== undefined && stale.has(this.#generationKey(tenant, ns))) {
              return (await this.#getRaw(tenant, key)).value;
            }
            const raw = values[genKeys.length + i] ?? null;
            this.#mirror(redisKeys[i] as string, raw);
            return raw;
          }),
        );
      },
      () => keys.map((key) => this.#lru.get(this.#lastKnownKey(tenant, key), this.#now())),
    );
    return raws.map((raw) => this.#hit<T>(raw ?? null, backend));
  }

  /**
   * Writes several values with one TTL: every entry is validated first (nothing is written if
   * one is invalid or too large), then one SET PX per entry, issued in the same tick so
   * auto-pipelining sends them in ONE round trip: n commands, 1 round trip. Not atomic: each
   * entry is written on its own (no cross-key transaction on Upstash without a global lock).
   * @returns `true` when all are stored in Upstash, `'local'` when stored only in this container
   *   (`localWrites`, during an outage).
   * @throws UpstashUnavailableError when they did not all reach Upstash (and `localWrites` is off).
   */
  async mset(
    tenant: string,
    entries: ReadonlyArray<{ key: string; value: unknown }>,
    options: Pick<CacheSetOptions, 'ttlMs'> = {},
  ): Promise<true | 'local'> {
    const ttl = CacheService.#ttl(options.ttlMs ?? this.#defaultTtl);
    const encoded = entries.map(({ key, value }) => ({
      key,
      lastKnown: this.#lastKnownKey(tenant, key),
      json: this.#encode(value),
    }));
    const written = await this.#acknowledged(
      encoded.map((e) => e.lastKnown),
      async () => {
        await Promise.all(
          encoded.map(({ key, json }) =>
            this.#atGeneration(tenant, key, (k) => this.#setRemote(k, json, ttl, 0)),
          ),
        );
        return true as const;
      },
      () => {
        for (const { lastKnown, json } of encoded) this.#setLocal(lastKnown, json, ttl, 0);
      },
    );
    this.#stats.sets += encoded.length;
    return written.where === 'local' ? 'local' : true;
  }

  /**
   * Reads `key`, or on a miss runs `loader` once and caches its value. Stampede protection:
   * concurrent callers in this container share one flight; across containers a lock key (SET NX
   * PX `lockTtlMs`, taken in the same script that reads the value) lets one loader run while the
   * others poll that script (backoff 20 ms doubling to 250 ms, jittered). A failed loader
   * releases the lock and its error reaches its callers; waiters then take the lock themselves. After `lockWaitMs` without a value a
   * waiter runs the loader itself (availability over strictness). Early refresh: XFetch with the
   * loader's duration stored beside the value.
   */
  async getOrSet<T>(
    tenant: string,
    key: string,
    loader: () => Promise<T> | T,
    options: GetOrSetOptions = {},
  ): Promise<T> {
    const flightKey = this.#keys.key('cache', tenant, key);
    const ttl = CacheService.#ttl(options.ttlMs ?? this.#defaultTtl);
    const flying = this.#flights.get(flightKey);
    if (flying) return flying as Promise<T>;
    const flight = this.#getOrLoad(
      tenant,
      key,
      this.#lockOf(tenant, key),
      loader,
      ttl,
      options.beta ?? 1,
    ).finally(() => this.#flights.delete(flightKey));
    this.#flights.set(flightKey, flight);
    return flight;
  }

  async #getOrLoad<T>(
    tenant: string,
    key: string,
    lockKey: string,
    loader: () => Promise<T> | T,
    ttl: number,
    beta: number,
  ): Promise<T> {
    // A namespaced key is loaded and stored at the generation this read saw: a bump meanwhile
    // leaves the stored value an orphan, never served.
    const { value: raw, redisKey } = await this.#getRaw(tenant, key);
    const envelope = parseEnvelope(raw);
    if (envelope) {
      this.#stats.hits += 1;
      const value = JSON.parse(envelope.json) as T;
      const now = this.#now();
      // XFetch: refresh before expiry with probability growing as expiry nears.
      const early =
        beta > 0 &&
        envelope.deltaMs > 0 &&
        now - envelope.deltaMs * beta * Math.log(Math.random()) >= envelope.expiresAt;
      if (!early) return value;
      const token = await this.#tryLock(lockKey);
      // Someone else refreshes already: the current value is still valid.
      if (token === null) return value;
      return this.#load(redisKey, lockKey, token, loader, ttl);
    }
    this.#stats.misses += 1;
    const deadline = this.#now() + this.#lockWait;
    let backoff = 20;
    for (;;) {
      const token = randomBytes(16).toString('base64url');
      const {
        value: [state, raw],
      } = await this.#read(
        async () => {
          const reply = await runScript<unknown[]>(
            this.#redis,
            VALUE_OR_LOCK_SCRIPT,
            [redisKey, lockKey],
            [token, this.#lockTtl],
          );
          return [Number(reply[0]), reply[1] === undefined ? null : String(reply[1])] as const;
        },
        // Upstash down: the value from memory, or this container loads (single-flight holds).
        () => {
          const local = this.#lru.get(redisKey, this.#now());
          return local === null ? ([2, null] as const) : ([1, local] as const);
        },
      );
      const loaded = state === 1 ? parseEnvelope(raw) : null;
      if (loaded) return JSON.parse(loaded.json) as T;
      if (state === 2) return this.#load(redisKey, lockKey, token, loader, ttl);
      if (this.#now() >= deadline) return this.#load(redisKey, lockKey, null, loader, ttl);
      await sleep(backoff + Math.random() * backoff);
      backoff = Math.min(backoff * 2, 250);
    }
  }

  /** A fresh lock token when the lock was free; with Upstash down, this container just loads. */
  async #tryLock(lockKey: string): Promise<string | null> {
    const token = randomBytes(16).toString('base64url');
    const { value: acquired } = await this.#read(
      () => this.#redis.set(lockKey, token, { nx: true, px: this.#lockTtl }),
      () => true,
    );
    return acquired ? token : null;
  }

  async #load<T>(
    redisKey: string,
    lockKey: string,
    token: string | null,
    loader: () => Promise<T> | T,
    ttl: number,
  ): Promise<T> {
    const started = this.#now();
    let value: T;
    let json: string;
    try {
      this.#stats.loads += 1;
      value = await loader();
      json = this.#encode(value);
    } catch (error) {
      if (token !== null) {
        await this.#read(
          () => runScript(this.#redis, UNLOCK_SCRIPT, [lockKey], [token]),
          () => 0,
        );
      }
      throw error;
    }
    const deltaMs = Math.max(1, this.#now() - started);
    if (token === null) {
      // A fill, not a write anyone is told about: kept in memory when Upstash is away.
      await this.#read(
        () => this.#setRemote(redisKey, json, ttl, deltaMs),
        () => this.#setLocal(redisKey, json, ttl, deltaMs),
      );
      this.#stats.sets += 1;
      return value;
    }
    const expiresAt = this.#now() + ttl;
    const raw = formatEnvelope(expiresAt, deltaMs, json);
    await this.#read(
      async () => {
        await runScript(this.#redis, STORE_AND_UNLOCK_SCRIPT, [redisKey, lockKey], [raw, ttl, token]);
        if (this.#fallback) this.#lru.set(redisKey, raw, expiresAt);
      },
      () => this.#lru.set(redisKey, raw, expiresAt),
    );
    this.#stats.sets += 1;
    return value;
  }
}
