import { randomBytes } from 'node:crypto';
import { ValidationError } from '../../shared/errors';
import { type KeyBuilder, validateId } from '../../shared/keys';
import { type RedisClient, type RedisLike, toRedisLike } from '../../shared/redis';
import { runScript } from '../../shared/scripts';
import { LockLostError } from './errors';
import { ACQUIRE_SCRIPT, EXTEND_SCRIPT, RELEASE_SCRIPT } from './scripts';

/**
 * The scope of locks shared by all tenants (the queue drain, the maintenance run). A registered
 * symbol, so two copies of this module (two bundles, a test's fresh module graph) agree on it.
 */
export const GLOBAL: unique symbol = Symbol.for('upstash-state.lock.global');

/** A tenant id, or {@link GLOBAL} for a lock shared by all tenants. */
export type LockScope = string | typeof GLOBAL;

/** How {@link LockService.acquire} retries while someone else holds the lock. */
export interface RetryOptions {
  /**
   * Tries in all, including the first. There is no sleep after the last one.
   * @default 3
   */
  readonly attempts?: number;
  /**
   * Base wait between tries, in ms.
   * @default 100
   */
  readonly delayMs?: number;
  /**
   * Random extra wait added to each delay (0 to jitterMs), so waiters that collided once do not
   * collide again in lockstep.
   * @default 50
   */
  readonly jitterMs?: number;
}

/** Options of {@link LockService.acquire}. */
export interface AcquireOptions {
  /**
   * How long the lock is held unless extended or released, in ms.
   * @default 10_000
   */
  readonly leaseMs?: number;
  /** Retry policy while the lock is held by someone else. @default - 3 tries, 100 ms + 0-50 ms apart */
  readonly retry?: RetryOptions;
  /** Stops waiting between tries; an aborted acquire returns `null`. @default - no cancellation */
  readonly signal?: AbortSignal;
}

/** A held lock. Pass it back to release or extend it. */
export interface Lock {
  /** The resource as the caller named it. */
  readonly resource: string;
  /** The Redis key of the lock. */
  readonly key: string;
  /** Random 128-bit holder token: only the holder can release or extend. */
  readonly token: string;
  /**
   * Strictly increasing per resource across all holders. Pass it to the resource you protect so
   * it can refuse writes from a holder that paused past its lease (Kleppmann's fencing).
   */
  readonly fencingToken: number;
  /** The lease the lock was taken with, in ms. */
  readonly leaseMs: number;
  /** Local estimate of when the lease ends (epoch ms), counted from before the request left. */
  readonly expiresAt: number;
}

/** What {@link LockService.withLock} passes to the guarded function. */
export interface LockContext {
  /** Aborts with a {@link LockLostError} when the lease could not be kept (or the caller's signal aborts). */
  readonly signal: AbortSignal;
  /** The lock held while the function runs. */
  readonly lock: Lock;
}

/** Options of {@link LockService.withLock}. */
export interface WithLockOptions extends AcquireOptions {
  /**
   * How often the lease is renewed while the function runs, in ms.
   * @default - a third of leaseMs, so two renewals can fail before the lease ends
   */
  readonly renewEveryMs?: number;
}

/** The outcome of {@link LockService.withLock}. */
export type WithLockResult<T> =
  | { readonly acquired: false }
  | {
      readonly acquired: true;
      /** What the function returned. */
      readonly value: T;
      /** The fencing token the function ran under. */
      readonly fencingToken: number;
      /** True when the lock was lost while the function ran (its signal aborted). */
      readonly lost: boolean;
    };

/** Dependencies of {@link LockService}. */
export interface LockServiceOptions {
  /** A non-evicting database: an evicted lock key is a second holder. */
  readonly redis: RedisClient;
  readonly keys: KeyBuilder;
}

const DEFAULT_LEASE_MS = 10_000;
const DEFAULT_RETRY: Required<RetryOptions> = { attempts: 3, delayMs: 100, jitterMs: 50 };

/**
 * Distributed mutual exclusion on one Redis: SET NX PX with a random holder token, a fencing
 * counter drawn in the same script, holder-only release and extend, bounded jittered retry, and
 * {@link LockService.withLock} which renews while work runs and reports a lost lock through an
 * AbortSignal rather than silently taking it again.
 *
 * As with every single-node Redis lock (and Upstash's asynchronous replication), a lock is an
 * efficiency device; correctness against pauses needs the fencing token checked downstream.
 *
 * @example
 * const locks = new LockService({ redis, keys });
 * const result = await locks.withLock('acme', 'report:42', async ({ signal, lock }) => {
 *   await writeReport({ fencingToken: lock.fencingToken, signal });
 * }, { leaseMs: 5_000 });
 * if (!result.acquired) return { skipped: true };
 */
export class LockService {
  readonly #redis: RedisLike;
  readonly #keys: KeyBuilder;

  constructor(options: LockServiceOptions) {
    this.#redis = toRedisLike(options.redis);
    this.#keys = options.keys;
  }

  /**
   * Takes the lock on `resource`, retrying while someone else holds it.
   * One command and one round trip per try.
   *
   * @returns the held lock, or `null` when it stayed taken through every try (or `signal` aborted)
   */
  async acquire(scope: LockScope, resource: string, options: AcquireOptions = {}): Promise<Lock | null> {
    const leaseMs = positiveInt(options.leaseMs ?? DEFAULT_LEASE_MS, 'leaseMs');
    const retry = { ...DEFAULT_RETRY, ...options.retry };
    positiveInt(retry.attempts, 'retry.attempts');
    nonNegativeInt(retry.delayMs, 'retry.delayMs');
    nonNegativeInt(retry.jitterMs, 'retry.jitterMs');
    const { key, fenceKey } = this.#keysOf(scope, resource);

    for (let attempt = 1; ; attempt++) {
      if (options.signal?.aborted) return null;
      const token = randomBytes(16).toString('base64url');
      const startedAt = Date.now();
      const fencingToken = await runScript<number | null>(
        this.#redis,
        ACQUIRE_SCRIPT,
        [key, fenceKey],
        [token, leaseMs],
      );
      if (fencingToken !== null) {
        return {
          resource,
          key,
          token,
          fencingToken: Number(fencingToken),
          leaseMs,
          expiresAt: startedAt + leaseMs,
        };
      }
      if (attempt >= retry.attempts) return null;
      await sleep(retry.delayMs + Math.floor(Math.random() * (retry.jitterMs + 1)), options.signal);
    }
  }

  /**
   * Releases the lock if the caller still holds it. One command.
   * @returns `false` when the lease had expired (and perhaps someone else holds it now)
   */
  async release(lock: Lock): Promise<boolean> {
    return (await runScript<number>(this.#redis, RELEASE_SCRIPT, [lock.key], [lock.token])) === 1;
  }

  /**
   * Sets the lease to `leaseMs` from now if the caller still holds the lock. One command.
   * @returns `false` when the caller no longer holds it; the lock is not taken again
   */
  async extend(lock: Lock, leaseMs: number = lock.leaseMs): Promise<boolean> {
    positiveInt(leaseMs, 'leaseMs');
    return (await runScript<number>(this.#redis, EXTEND_SCRIPT, [lock.key], [lock.token, leaseMs])) === 1;
  }

  /**
   * Runs `fn` while holding the lock on `resource`. The lease is renewed every `renewEveryMs`
   * while `fn` runs; when a renewal is refused, or none succeeds before the lease would end, the
   * signal given to `fn` aborts with a {@link LockLostError}. The lock is never taken again
   * behind `fn`'s back. Every timer is cleared and any renewal in flight is awaited before this
   * returns, so nothing is left pending when a Lambda handler returns.
   *
   * If `fn` throws, the lock is released and the error rethrown.
   *
   * @returns `{ acquired: false }` when the lock stayed taken through every try
   */
  async withLock<T>(
    scope: LockScope,
    resource: string,
    fn: (context: LockContext) => Promise<T>,
    options: WithLockOptions = {},
  ): Promise<WithLockResult<T>> {
    const lock = await this.acquire(scope, resource, options);
    if (!lock) return { acquired: false };

    const controller = new AbortController();
    const outer = options.signal;
    const onOuterAbort = () => controller.abort(outer?.reason);
    outer?.addEventListener('abort', onOuterAbort, { once: true });
    const renewer = new Renewer(
      this,
      lock,
      controller,
      options.renewEveryMs ?? Math.max(1, Math.floor(lock.leaseMs / 3)),
    );
    renewer.start();
    try {
      const value = await fn({ signal: controller.signal, lock });
      return { acquired: true, value, fencingToken: lock.fencingToken, lost: renewer.lost };
    } finally {
      await renewer.stop();
      outer?.removeEventListener('abort', onOuterAbort);
      // A failed release is left to the lease: the key expires within leaseMs, and throwing here
      // would report a finished fn as failed.
      await this.release(lock).catch(() => false);
    }
  }

  #keysOf(scope: LockScope, resource: string): { key: string; fenceKey: string } {
    validateId(resource, 'resource');
    if (scope === GLOBAL) {
      return {
        key: this.#keys.global('lock', 'held', resource),
        fenceKey: this.#keys.global('lock', 'fence', resource),
      };
    }
    return {
      key: this.#keys.internal('lock', scope, 'held', resource),
      fenceKey: this.#keys.internal('lock', scope, 'fence', resource),
    };
  }
}

/**
 * Keeps one lease alive: a renewal timer (setTimeout chained after each renewal, so renewals never
 * overlap) and an expiry timer that fires if no renewal was confirmed before the lease ends, e.g.
 * when a request hangs.
 */
class Renewer {
  lost = false;
  #stopped = false;
  #renewTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;

  constructor(
    private readonly locks: LockService,
    private readonly lock: Lock,
    private readonly controller: AbortController,
    private readonly everyMs: number,
  ) {}

  start(): void {
    this.#armExpiry(this.lock.expiresAt);
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#expiryTimer);
    await this.#inFlight;
    // The renewal we awaited may have re-armed a timer before it saw #stopped.
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#expiryTimer);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#renewTimer = setTimeout(() => {
      this.#inFlight = this.#renew().finally(() => {
        this.#inFlight = undefined;
        this.#schedule();
      });
    }, this.everyMs);
  }

  async #renew(): Promise<void> {
    const startedAt = Date.now();
    try {
      if (await this.locks.extend(this.lock, this.lock.leaseMs)) {
        this.#armExpiry(startedAt + this.lock.leaseMs);
      } else {
        this.#lose(new LockLostError(`lock on "${this.lock.resource}" is held by someone else now`));
      }
    } catch {
      // A failed request is not a lost lock yet: the expiry timer decides if no renewal lands in time.
    }
  }

  #armExpiry(at: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = setTimeout(
      () =>
        this.#lose(
          new LockLostError(`lease on "${this.lock.resource}" ended before a renewal was confirmed`),
        ),
      Math.max(0, at - Date.now()),
    );
  }

  #lose(reason: LockLostError): void {
    if (this.#stopped) return;
    this.lost = true;
    this.#stopped = true;
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#expiryTimer);
    this.controller.abort(reason);
  }
}

/** Resolves after `ms`, or at once when `signal` aborts; the timer never outlives the wait. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function positiveInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new ValidationError(`${name} must be a positive integer of ms, got ${value}`);
  return value;
}

function nonNegativeInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new ValidationError(`${name} must be a non-negative integer, got ${value}`);
  return value;
}
