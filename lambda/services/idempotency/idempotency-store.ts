import { randomBytes } from 'node:crypto';
import { ValidationError } from '../../shared/errors';
import type { KeyBuilder } from '../../shared/keys';
import type { RedisLike } from '../../shared/redis';
import { runScript } from '../../shared/scripts';
import type { Receipt } from '../../shared/settle';
import { BEGIN_SCRIPT, PAUSE_SCRIPT, RELEASE_SCRIPT } from './scripts';

/** An answer as it is stored and replayed. */
export interface StoredResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A claim the caller runs the request under. */
export interface RunClaim {
  readonly state: 'run';
  /** The record's Redis key. */
  readonly key: string;
  readonly fingerprint: string;
  /**
   * The request's token: fresh for a first run, the earlier run's when resumed. A create uses it
   * as the id of what it creates, so a re-run is a no-op that answers as the first run did.
   */
  readonly token: string;
  /** Whether an earlier run claimed it and ended (or died) without storing an answer. */
  readonly resumed: boolean;
  readonly lock: string;
}

/** What {@link IdempotencyStore.begin} found. */
export type Claim =
  | RunClaim
  /** A run answered: this is its answer. */
  | { readonly state: 'replay'; readonly response: StoredResponse }
  /** A run is in progress (its lease has not ended). */
  | { readonly state: 'busy' }
  /** The key was used by another request. */
  | { readonly state: 'mismatch' };

/** Options of {@link IdempotencyStore}. */
export interface IdempotencyStoreOptions {
  /** A non-evicting database (the api function uses its rate limits', to share their round trip). */
  readonly redis: RedisLike;
  readonly keys: KeyBuilder;
  /** How long an answer is kept (and a key stays bound to its request), in ms. @default 86_400_000 */
  readonly ttlMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Longest Idempotency-Key, in characters. */
export const MAX_IDEMPOTENCY_KEY = 255;

/**
 * Idempotency records, one per tenant and key, in the state database: the first request claims
 * the key (one script, sent beside the request's rate-limit check), the route runs, and its answer
 * is stored for `ttlMs`, written by the route's own script where the route creates something in
 * the same database (a {@link Receipt}), else by one SET after it. A retry with the same request
 * gets the stored answer, one with another request a mismatch, and one while the first runs
 * `busy`. A run that failed releases its claim (not applied: a retry starts afresh) or pauses it
 * (outcome unknown: a retry resumes at once with the same token).
 */
export class IdempotencyStore {
  readonly #redis: RedisLike;
  readonly #keys: KeyBuilder;
  readonly #ttl: number;
  readonly #now: () => number;

  constructor(options: IdempotencyStoreOptions) {
    this.#redis = options.redis;
    this.#keys = options.keys;
    this.#ttl = options.ttlMs ?? 86_400_000;
    if (!Number.isSafeInteger(this.#ttl) || this.#ttl <= 0) {
      throw new ValidationError(`ttlMs must be a positive integer, got ${this.#ttl}`);
    }
    this.#now = options.now ?? Date.now;
  }

  /** The database client (receipts can be written only by scripts on the same one). */
  get redis(): RedisLike {
    return this.#redis;
  }

  /** How long an answer is kept, in ms. */
  get ttlMs(): number {
    return this.#ttl;
  }

  /**
   * The record key of a tenant's Idempotency-Key.
   * @throws ValidationError for a key that is empty, longer than 255 characters or holds control
   *   or glob characters
   */
  recordKey(tenant: string, key: string): string {
    if (typeof key === 'string' && key.length > MAX_IDEMPOTENCY_KEY) {
      throw new ValidationError(`Idempotency-Key must be at most ${MAX_IDEMPOTENCY_KEY} characters`);
    }
    try {
      return this.#keys.key('idempotency', tenant, key);
    } catch (error) {
      throw new ValidationError((error as Error).message.replace(/^key/, 'Idempotency-Key'));
    }
  }

  /**
   * Claims `key` for a request whose `fingerprint` says what it is. One command.
   * @param leaseMs how long the claim holds while the request runs (its deadline): no other run
   *   starts before, and a run that dies leaves the key to a retry after
   */
  async begin(tenant: string, key: string, fingerprint: string, leaseMs: number): Promise<Claim> {
    const recordKey = this.recordKey(tenant, key);
    const now = this.#now();
    const lock = randomBytes(12).toString('base64url');
    const reply = await runScript<unknown[]>(
      this.#redis,
      BEGIN_SCRIPT,
      [recordKey],
      [fingerprint, now, now + Math.max(1, leaseMs), randomBytes(32).toString('base64url'), this.#ttl, lock],
    );
    const state = String(reply[0]);
    if (state === 'run') {
      return {
        state: 'run',
        key: recordKey,
        fingerprint,
        token: String(reply[1]),
        resumed: Number(reply[2]) === 1,
        lock,
      };
    }
    if (state === 'replay') {
      const record = JSON.parse(String(reply[1])) as { r: number; h: Record<string, string>; b: string };
      return { state: 'replay', response: { status: record.r, headers: record.h, body: record.b } };
    }
    return state === 'busy' ? { state: 'busy' } : { state: 'mismatch' };
  }

  /** The stored form of an answer to `claim`: what {@link complete} and a receipt write. */
  doneRecord(claim: RunClaim, response: StoredResponse): string {
    return JSON.stringify({
      s: 'd',
      f: claim.fingerprint,
      r: response.status,
      h: response.headers,
      b: response.body,
    });
  }

  /** Stores the answer of `claim`'s run. One command (a SET). */
  async complete(claim: RunClaim, response: StoredResponse): Promise<void> {
    await this.#redis.set(claim.key, this.doneRecord(claim, response), { px: this.#ttl });
  }

  /**
   * A receipt that stores the answer with the create itself: `answer` turns the create's result
   * into the response, `onWritten` is told when the create's script wrote it.
   */
  receipt<T>(claim: RunClaim, answer: (result: T) => StoredResponse, onWritten: () => void): Receipt<T> {
    return {
      key: claim.key,
      ttlMs: this.#ttl,
      value: (result) => this.doneRecord(claim, answer(result)),
      written: onWritten,
    };
  }

  /** Drops `claim` when its run did not apply (a retry starts afresh). One command. */
  async release(claim: RunClaim): Promise<void> {
    await runScript(this.#redis, RELEASE_SCRIPT, [claim.key], [claim.lock]);
  }

  /** Ends `claim`'s lease when its run's outcome is unknown (a retry resumes at once). One command. */
  async pause(claim: RunClaim): Promise<void> {
    await runScript(this.#redis, PAUSE_SCRIPT, [claim.key], [claim.lock]);
  }
}
