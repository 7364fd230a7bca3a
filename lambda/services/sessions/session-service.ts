import { randomBytes } from 'node:crypto';
import { circuitFor, throughCircuit } from '../../shared/circuit-breaker';
import { DEFAULTS } from '../../shared/config';
import {
  ConflictError,
  PayloadTooLargeError,
  UpstashUnavailableError,
  ValidationError,
} from '../../shared/errors';
import { MAX_JSON_DEPTH, setField, stringifyJson } from '../../shared/json';
import type { KeyBuilder } from '../../shared/keys';
import { type RedisClient, type RedisLike, toRedisLike } from '../../shared/redis';
import { runScript } from '../../shared/scripts';
import { FENCE_TTL_MS, type Receipt, type Resolution, settle } from '../../shared/settle';
import {
  CREATE_SCRIPT,
  FETCH_SCRIPT,
  GET_SCRIPT,
  INDEX_SCRIPT,
  REGENERATE_SCRIPT,
  RESOLVE_CREATE_SCRIPT,
  REVOKE_SCRIPT,
  UPDATE_SCRIPT,
} from './scripts';

/** A JSON value, as stored in a session field. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Session data: named fields, each any JSON value. Fields merge independently on update. */
export type SessionData = Record<string, JsonValue>;

/** A live session. Times are epoch ms. */
export interface Session<T extends SessionData = SessionData> {
  /** The id: 32 random bytes, base64url (43 characters). Secret: it is the bearer credential. */
  readonly id: string;
  readonly userId: string;
  readonly createdAt: number;
  /** Absolute expiry: the session ends then whatever its activity. */
  readonly expiresAt: number;
  /**
   * Idle expiry: the session ends then unless it is read or updated before (each read or update
   * moves it to now + the idle timeout, never past `expiresAt`).
   */
  readonly idleExpiresAt: number;
  readonly data: T;
}

/** Options of {@link SessionService}. */
export interface SessionServiceOptions {
  /** The database client (a non-evicting database). */
  readonly redis: RedisClient;
  /** The key builder; keys are `session` keys of the tenant. */
  readonly keys: KeyBuilder;
  /**
   * Idle timeout in ms: a session not read or updated for this long ends.
   * @default 3600000 (1 h)
   */
  readonly idleTtlMs?: number;
  /**
   * Absolute lifetime in ms from creation; reads never extend it.
   * @default 86400000 (24 h)
   */
  readonly absoluteTtlMs?: number;
  /**
   * Most sessions per user; creating one more evicts the oldest.
   * @default 20
   */
  readonly maxPerUser?: number;
  /**
   * Largest data, in UTF-8 bytes of JSON, accepted by one create or update.
   * @default 16384
   */
  readonly maxDataBytes?: number;
  /**
   * How long a create whose answer was lost keeps trying to find out what became of it, in ms,
   * when the call gives no `settleBy`.
   * @default 5000
   */
  readonly settleWithinMs?: number;
  /**
   * The clock, in epoch ms.
   * @default Date.now
   */
  readonly now?: () => number;
}

/** Options of one {@link SessionService.create}. */
export interface CreateOptions {
  /**
   * Epoch ms until which a create whose answer was lost tries to settle it (see
   * `lambda/shared/settle.ts`); a handler passes its own deadline.
   * @default - now + the service's `settleWithinMs`
   */
  readonly settleBy?: number;
  /**
   * The session's id, as the request's token: a create again with the same id creates nothing and
   * answers as the first did (an `Idempotency-Key` retry). 43 characters of base64url, from
   * {@link newSessionId}.
   * @default - a fresh id
   */
  readonly id?: string;
  /** A key written with the session when it is created (an `Idempotency-Key` record). @default - none */
  readonly receipt?: Receipt<Session>;
}

/** A fresh session id: 32 random bytes, base64url (the bearer credential: keep it secret). */
export const newSessionId = (): string => randomBytes(32).toString('base64url');

/** Ids we mint: 32 bytes in base64url, no padding. Anything else is not ours. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;
const DATA_PREFIX = 'd:';
const MAX_ATTEMPTS = 10;

const positive = (value: number, what: string): number => {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ValidationError(`${what} must be a positive integer of milliseconds, got ${value}`);
  }
  return value;
};

/**
 * Server-side sessions with an idle timeout that slides and an absolute one that does not, a
 * per-user index (list, revoke all; never a keyspace scan), a cap per user and atomic id
 * regeneration. A read that slides the TTL is one command. Sessions never fall back to memory:
 * two copies would fork.
 *
 * @example
 * const sessions = new SessionService({ redis, keys, idleTtlMs: 30 * 60_000, absoluteTtlMs: 8 * 3_600_000 });
 * const { id } = await sessions.create('acme', 'user-42', { role: 'admin' });
 * const session = await sessions.get('acme', id); // null once idle or past its lifetime
 * await sessions.revokeAll('acme', 'user-42');
 */
export class SessionService {
  readonly #redis: RedisLike;
  readonly #keys: KeyBuilder;
  readonly #idle: number;
  readonly #absolute: number;
  readonly #max: number;
  readonly #maxBytes: number;
  readonly #settleWithin: number;
  readonly #now: () => number;

  constructor(options: SessionServiceOptions) {
    this.#redis = toRedisLike(options.redis);
    this.#keys = options.keys;
    this.#idle = positive(options.idleTtlMs ?? DEFAULTS.sessions.idleTtlMs, 'idleTtlMs');
    this.#absolute = positive(options.absoluteTtlMs ?? DEFAULTS.sessions.absoluteTtlMs, 'absoluteTtlMs');
    this.#max = positive(options.maxPerUser ?? DEFAULTS.sessions.maxPerUser, 'maxPerUser');
    this.#maxBytes = positive(options.maxDataBytes ?? 16_384, 'maxDataBytes');
    this.#settleWithin = positive(options.settleWithinMs ?? 5_000, 'settleWithinMs');
    this.#now = options.now ?? Date.now;
  }

  #sessionKey(tenant: string, id: string): string {
    return this.#keys.key('session', tenant, `s:${id}`);
  }

  #indexKey(tenant: string, userId: string): string {
    // Validates userId as a client id first, so the error names it.
    this.#keys.key('session', tenant, userId);
    return this.#keys.key('session', tenant, `u:${userId}`);
  }

  /**
   * Field/value pairs for the hash, with the size and depth limits applied (a field's value sits
   * one level below the data object, so it may nest one level less than the whole).
   */
  #encode(data: SessionData): string[] {
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      throw new ValidationError('session data must be an object of fields');
    }
    const pairs: string[] = [];
    let bytes = 0;
    for (const [name, value] of Object.entries(data)) {
      if (value === undefined) continue;
      if (name.length === 0 || name.length > 256)
        throw new ValidationError('session field names must be 1-256 characters');
      const json = stringifyJson(
        value,
        `session field ${JSON.stringify(name.slice(0, 64))}`,
        MAX_JSON_DEPTH - 1,
      );
      bytes += Buffer.byteLength(name) + Buffer.byteLength(json);
      pairs.push(DATA_PREFIX + name, json);
    }
    if (bytes > this.#maxBytes) {
      throw new PayloadTooLargeError(`session data is ${bytes} bytes, above the limit of ${this.#maxBytes}`);
    }
    return pairs;
  }

  /**
   * A session from its hash fields. Its idle expiry is `idleLeftMs` from now when the caller knows
   * what is left of it (a PTTL), else a whole idle timeout from `now` (a read or write that just
   * slid it), never past the absolute expiry.
   */
  #decode<T extends SessionData>(
    id: string,
    reply: unknown,
    now: number,
    idleLeftMs?: number,
  ): Session<T> | null {
    if (!Array.isArray(reply) || reply.length === 0) return null;
    const data: SessionData = {};
    let userId = '';
    let createdAt = 0;
    let expiresAt = 0;
    let idle = this.#idle;
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const field = String(reply[i]);
      const value = String(reply[i + 1]);
      // setField: a field named __proto__ is data, never the object's prototype.
      if (field.startsWith(DATA_PREFIX)) setField(data, field.slice(DATA_PREFIX.length), JSON.parse(value));
      else if (field === '_u') userId = value;
      else if (field === '_c') createdAt = Number(value);
      else if (field === '_x') expiresAt = Number(value);
      else if (field === '_i') idle = Number(value);
    }
    const idleExpiresAt = Math.min(expiresAt, now + (idleLeftMs ?? idle));
    return { id, userId, createdAt, expiresAt, idleExpiresAt, data: data as T };
  }

  /**
   * Creates a session for `userId`; when the user already has `maxPerUser`, the oldest ones are
   * evicted in the same script. One round trip, two when something must be evicted.
   *
   * A create whose answer is lost is settled before this returns: it returns the session when
   * the create applied, or throws UpstashUnavailableError with `outcome: 'not-applied'` after
   * fencing the id off, so nothing (no session, no eviction) can come of it later. `unknown`
   * only when the database stays unreachable until `settleBy`.
   */
  async create<T extends SessionData>(
    tenant: string,
    userId: string,
    data: T = {} as T,
    options: CreateOptions = {},
  ): Promise<Session<T>> {
    if (options.id !== undefined && !SESSION_ID.test(options.id)) {
      throw new ValidationError('a session id must be 43 characters of base64url (see newSessionId)');
    }
    const id = options.id ?? newSessionId();
    const key = this.#sessionKey(tenant, id);
    const index = this.#indexKey(tenant, userId);
    const prefix = this.#sessionKey(tenant, 'x').slice(0, -1);
    const pairs = this.#encode(data);
    const { receipt } = options;
    // Wall-clock time, whatever the service's clock: this bounds a wait, it is not session time.
    const settleBy = options.settleBy ?? Date.now() + this.#settleWithin;
    const session = (createdAt: number): Session<T> => ({
      id,
      userId,
      createdAt,
      expiresAt: createdAt + this.#absolute,
      idleExpiresAt: createdAt + Math.min(this.#idle, this.#absolute),
      // What was stored, as a read returns it (undefined fields dropped, keys as given).
      data: this.#decode<T>(id, pairs, createdAt)?.data ?? ({} as T),
    });
    const circuit = circuitFor(this.#redis);
    return settle<Session<T>>(
      // While the database counts as down nothing is sent: a fast 503, nothing to settle.
      () =>
        throughCircuit(circuit, async () => {
          let evict: string[] = [];
          for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
            const now = this.#now();
            const reply = await runScript<unknown[]>(
              this.#redis,
              CREATE_SCRIPT,
              [key, index, receipt?.key ?? key, ...evict.map((member) => prefix + member)],
              [
                now,
                this.#idle,
                this.#absolute,
                this.#max,
                id,
                userId,
                prefix,
                receipt ? receipt.value(session(now)) : '',
                receipt?.ttlMs ?? 0,
                ...pairs,
              ],
            );
            const state = Number(reply[0]);
            if (state === 1) {
              if (Number(reply[2]) === 1) receipt?.written();
              return session(Number(reply[1]));
            }
            if (state === 2) {
              throw new UpstashUnavailableError('this create was given up on', { outcome: 'not-applied' });
            }
            // Which sessions to evict is only known inside; name them in KEYS on the next attempt.
            evict = reply.slice(1).map(String);
          }
          throw new ConflictError(
            `could not create a session for user "${userId}": its index keeps changing`,
          );
        }),
      {
        deadline: settleBy,
        resolve: async (): Promise<Resolution<Session<T>>> => {
          // Not held back by an open circuit: this is what makes the answer certain.
          const reply = await runScript<unknown[]>(this.#redis, RESOLVE_CREATE_SCRIPT, [key], [FENCE_TTL_MS]);
          circuit.success();
          if (Number(reply[0]) !== 1) return { applied: false };
          // Created by the lost call, whose script wrote the receipt in the same step.
          receipt?.written();
          return { applied: true, value: session(Number(reply[1])) };
        },
      },
    );
  }

  /**
   * Reads a session and slides its idle timeout (never past the absolute expiry). One command.
   * An id we did not mint, or one of another tenant, reads as `null`, like an expired one.
   */
  async get<T extends SessionData = SessionData>(tenant: string, id: string): Promise<Session<T> | null> {
    if (typeof id !== 'string' || !SESSION_ID.test(id)) return null;
    const now = this.#now();
    const reply = await runScript(this.#redis, GET_SCRIPT, [this.#sessionKey(tenant, id)], [now]);
    return this.#decode<T>(id, reply, now);
  }

  /**
   * Merges `patch` into the session's data field by field (a field set to `undefined` is
   * removed) and slides the idle timeout. Concurrent updates of different fields all survive.
   * @returns the session after the update, or `null` when it no longer exists.
   */
  async update<T extends SessionData = SessionData>(
    tenant: string,
    id: string,
    patch: Partial<Record<string, JsonValue | undefined>>,
  ): Promise<Session<T> | null> {
    if (typeof id !== 'string' || !SESSION_ID.test(id)) return null;
    const set = this.#encode(patch as SessionData);
    const remove = Object.entries(patch)
      .filter(([, value]) => value === undefined)
      .map(([name]) => DATA_PREFIX + name);
    const now = this.#now();
    const reply = await runScript(
      this.#redis,
      UPDATE_SCRIPT,
      [this.#sessionKey(tenant, id)],
      [now, set.length / 2, ...set, ...remove],
    );
    return this.#decode<T>(id, reply, now);
  }

  /**
   * Ends a session (logout). One command; its index entry is pruned lazily.
   * @returns whether a session was deleted.
   */
  async destroy(tenant: string, id: string): Promise<boolean> {
    if (typeof id !== 'string' || !SESSION_ID.test(id)) return false;
    return (await this.#redis.del([this.#sessionKey(tenant, id)])) > 0;
  }

  /**
   * Gives a session a new id and makes the old one invalid at once (call it on login and on
   * any privilege change). Data, creation time and absolute expiry carry over; the idle timeout
   * slides. Two round trips (a read names the user's index, then one script moves the session).
   *
   * With `nextId` (the request's token, from {@link newSessionId}) a retry of a regenerate whose
   * answer was lost finds the session under that id and answers it again.
   * @returns the session under its new id, or `null` when the old one does not exist.
   */
  async regenerate<T extends SessionData = SessionData>(
    tenant: string,
    id: string,
    options: { readonly nextId?: string } = {},
  ): Promise<Session<T> | null> {
    const { nextId } = options;
    if (nextId !== undefined && !SESSION_ID.test(nextId)) {
      throw new ValidationError('a session id must be 43 characters of base64url (see newSessionId)');
    }
    const current = await this.get<T>(tenant, id);
    if (!current) {
      // Moved by an earlier run of this very request? Its token is the new id.
      const moved = nextId !== undefined ? await this.get<T>(tenant, nextId) : null;
      return moved;
    }
    const next = nextId ?? newSessionId();
    const moved = await runScript(
      this.#redis,
      REGENERATE_SCRIPT,
      [this.#sessionKey(tenant, id), this.#sessionKey(tenant, next), this.#indexKey(tenant, current.userId)],
      [current.userId, id, next],
    );
    return Number(moved) === 1 ? { ...current, id: next } : null;
  }

  /** The ids in a user's index, after dropping those past the absolute lifetime. */
  async #indexed(tenant: string, userId: string): Promise<{ index: string; ids: string[] }> {
    const index = this.#indexKey(tenant, userId);
    const ids = await runScript<unknown[]>(
      this.#redis,
      INDEX_SCRIPT,
      [index],
      [this.#now() - this.#absolute],
    );
    return { index, ids: ids.map(String) };
  }

  /**
   * The live sessions of a user, oldest first, through the per-user index (two round trips, no
   * scan). Entries of sessions that ended are pruned on the way. Listing does not slide TTLs.
   */
  async list<T extends SessionData = SessionData>(tenant: string, userId: string): Promise<Session<T>[]> {
    const { index, ids } = await this.#indexed(tenant, userId);
    if (ids.length === 0) return [];
    const now = this.#now();
    const replies = await runScript<unknown[]>(
      this.#redis,
      FETCH_SCRIPT,
      [index, ...ids.map((id) => this.#sessionKey(tenant, id))],
      ids,
    );
    // Pairs: each session's fields and what is left of its TTL (listing does not slide it).
    return ids.flatMap((id, i) => this.#decode<T>(id, replies[2 * i], now, Number(replies[2 * i + 1])) ?? []);
  }

  /**
   * Drops a user's index entries whose sessions ended (for the maintenance job).
   * @returns the number of live sessions left.
   */
  async pruneUser(tenant: string, userId: string): Promise<number> {
    return (await this.list(tenant, userId)).length;
  }

  /**
   * Ends every session of a user (logout everywhere), including sessions created while it runs.
   * @returns the number of live sessions ended (entries of sessions already gone are dropped
   *   without counting).
   */
  async revokeAll(tenant: string, userId: string): Promise<number> {
    let ended = 0;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const { index, ids } = await this.#indexed(tenant, userId);
      const [deleted, left] = await runScript<[number, number]>(
        this.#redis,
        REVOKE_SCRIPT,
        [index, ...ids.map((id) => this.#sessionKey(tenant, id))],
        ids,
      );
      ended += Number(deleted);
      if (Number(left) === 0) return ended;
    }
    throw new ConflictError(`could not revoke the sessions of user "${userId}": new ones keep appearing`);
  }
}
