import { randomBytes } from 'node:crypto';
import { circuitFor, throughCircuit } from '../../shared/circuit-breaker';
import { PayloadTooLargeError, UpstashUnavailableError, ValidationError } from '../../shared/errors';
import { stringifyJson } from '../../shared/json';
import { type KeyBuilder, validateId, validateTenant } from '../../shared/keys';
import { type RedisClient, type RedisLike, toRedisLike } from '../../shared/redis';
import { runScript } from '../../shared/scripts';
import { FENCE_TTL_MS, type Receipt, type Resolution, settle } from '../../shared/settle';
import {
  ACK_SCRIPT,
  CANCEL_SCRIPT,
  COUNTS_BY_TYPE_SCRIPT,
  DEQUEUE_SCRIPT,
  DROP_SCRIPT,
  ENQUEUE_SCRIPT,
  FAIL_SCRIPT,
  LIST_SCRIPT,
  PROMOTE_DUE_SCRIPT,
  PRUNE_SCRIPT,
  REDRIVE_SCRIPT,
  REQUEUE_EXPIRED_SCRIPT,
  RESOLVE_ENQUEUE_SCRIPT,
  STATS_SCRIPT,
  STATUS_SCRIPT,
  UNINDEX_SCRIPT,
} from './scripts';

/** Job priority: every ready `high` job is dequeued before any `normal` one, and so on. */
export type Priority = 'high' | 'normal' | 'low';

/**
 * Where a job stands. Its id is always in exactly one of the five sets ready / delayed / inflight
 * / done / dead; a `cancelled` job is in the done set (kept and pruned like a completed one).
 */
export type JobState = 'ready' | 'delayed' | 'inflight' | 'done' | 'dead' | 'cancelled';

/** Every {@link JobState}, for validation and docs. */
export const JOB_STATES: readonly JobState[] = ['ready', 'delayed', 'inflight', 'done', 'dead', 'cancelled'];

/** Ready-set score bands; keep in step with `BANDS` in scripts.ts. */
const BAND: Record<Priority, number> = { high: 0, normal: 1, low: 2 };
const BAND_WIDTH = 1e13;

/** What to enqueue. */
export interface EnqueueInput {
  /** The tenant the job belongs to; only that tenant can read its status. */
  readonly tenant: string;
  /** A type registered in the worker's {@link JobRegistry}, e.g. `cache.invalidate-prefix`. */
  readonly type: string;
  /** JSON-serializable data for the handler. @default null */
  readonly payload?: unknown;
  /** @default 'normal' */
  readonly priority?: Priority;
  /** Wait this long before the job becomes ready, in ms. @default 0 */
  readonly delayMs?: number;
  /** Deliveries before the job is dead-lettered, 1-100. @default 3 */
  readonly maxAttempts?: number;
  /**
   * Enqueueing again with the same key (same tenant) returns the first job's id with
   * `duplicate: true`, for as long as that job is kept (until pruned).
   * @default - no deduplication
   */
  readonly idempotencyKey?: string;
}

/** Options of one {@link JobQueue.enqueue}. */
export interface EnqueueOptions {
  /**
   * Epoch ms until which an enqueue whose answer was lost tries to settle it (see
   * `lambda/shared/settle.ts`); a handler passes its own deadline.
   * @default - now + 5 s
   */
  readonly settleBy?: number;
  /**
   * The job's id, as the request's token: enqueueing again with the same id adds nothing and
   * answers as the first call did (an `Idempotency-Key` retry). 22 characters of base64url, from
   * {@link newJobId}.
   * @default - a fresh id
   */
  readonly id?: string;
  /** A key written with the job when it is added (an `Idempotency-Key` record). @default - none */
  readonly receipt?: Receipt<EnqueueResult>;
}

/** A fresh job id (16 random bytes, base64url). */
export const newJobId = (): string => randomBytes(16).toString('base64url');

/** The outcome of {@link JobQueue.enqueue}. */
export interface EnqueueResult {
  readonly id: string;
  /** True when the idempotency key was already known: nothing new was enqueued. */
  readonly duplicate: boolean;
}

/** A job handed out by {@link JobQueue.dequeue}; pass it back to ack or fail it. */
export interface Job {
  readonly id: string;
  readonly tenant: string;
  readonly type: string;
  readonly payload: unknown;
  readonly priority: Priority;
  /** Deliveries so far, this one included. */
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly createdAt: number;
  /** This delivery's lease token: only its holder can ack or fail the job. */
  readonly lease: string;
  /** When the lease ends (epoch ms); after that the job may be requeued and delivered again. */
  readonly leaseUntil: number;
}

/** What a tenant may see of a job (no lease token). */
export interface JobStatus {
  readonly id: string;
  readonly type: string;
  readonly state: JobState;
  readonly priority: Priority;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly createdAt: number;
  /** When a delayed job is due. */
  readonly runAt?: number;
  /** When it was acked or dead-lettered. */
  readonly finishedAt?: number;
  /** The error of the last failed attempt. */
  readonly lastError?: string;
  /** What the handler returned (JSON), once done; e.g. `{ deleted }` for an invalidation. */
  readonly result?: unknown;
}

/** Options of {@link JobQueue.list}. */
export interface ListOptions {
  /** Only jobs in this state. @default - any */
  readonly state?: JobState;
  /** Only jobs of this type. @default - any */
  readonly type?: string;
  /** Where the previous page ended ({@link JobPage.cursor}). @default - the newest job */
  readonly cursor?: string;
  /** Most jobs on the page, 1-100. @default 20 */
  readonly limit?: number;
}

/** One page of {@link JobQueue.list}. */
export interface JobPage {
  readonly jobs: readonly JobStatus[];
  /**
   * Pass it back for the next page; `null` at the end. A page may hold fewer than `limit` jobs
   * while a cursor follows: each call reads a bounded number of the tenant's jobs.
   */
  readonly cursor: string | null;
}

/**
 * Which job types a caller may act on (cancel, redrive): a set of type names, or `'*'` for all
 * (code and operators). The HTTP API passes the types whose scope the key holds.
 */
export type TypeFilter = ReadonlySet<string> | '*';

/** Why a job could not be cancelled or redriven. */
export type JobActionRefusal =
  | { readonly ok: false; readonly reason: 'not-found' }
  /** The job is not in a state the action applies to (see `state`). */
  | { readonly ok: false; readonly reason: 'state'; readonly state: JobState }
  /** The caller may not act on jobs of this type. */
  | { readonly ok: false; readonly reason: 'type'; readonly type: string };

/** The outcome of {@link JobQueue.cancel} and {@link JobQueue.redrive}. */
export type JobActionResult = { readonly ok: true; readonly job: JobStatus } | JobActionRefusal;

/** Options of {@link JobQueue.fail}. */
export interface FailOptions {
  /** `false` dead-letters at once (e.g. no handler for the type). @default true */
  readonly retryable?: boolean;
}

/** The outcome of {@link JobQueue.fail}. */
export type FailResult =
  | { readonly success: true; readonly state: 'delayed'; readonly retryAt: number }
  | { readonly success: true; readonly state: 'dead' }
  /** The caller's lease is gone: the job was requeued and may be someone else's now. */
  | { readonly success: false };

/** Job counts per set. */
export interface QueueStats {
  readonly ready: Readonly<Record<Priority, number>>;
  readonly delayed: number;
  readonly inFlight: number;
  readonly done: number;
  readonly deadLetters: number;
}

/** Jobs of one type in each set that holds jobs still to run, or dead. */
export interface StateCounts {
  readonly ready: number;
  readonly delayed: number;
  readonly inFlight: number;
  readonly dead: number;
}

/** What {@link JobQueue.countsByType} answers. */
export interface TypeCounts {
  readonly counts: Readonly<Record<string, StateCounts>>;
  /** Whether a set held more jobs than were read. */
  readonly truncated: boolean;
}

/** Exponential retry backoff: `baseMs * 2^(attempts-1)`, capped, plus up to 20% jitter. */
export interface BackoffOptions {
  /** @default 1_000 */
  readonly baseMs?: number;
  /** @default 900_000 (15 minutes) */
  readonly maxMs?: number;
}

/** The queue every job goes to unless it names another; the one the schedules drain and maintain. */
export const DEFAULT_QUEUE = 'default';

/** Dependencies and settings of {@link JobQueue}. */
export interface JobQueueOptions {
  /** A non-evicting database: an evicted job is a lost job. */
  readonly redis: RedisClient;
  readonly keys: KeyBuilder;
  /**
   * Queue name; each name is an independent queue with its own keys and drain lock.
   * @default 'default'
   */
  readonly name?: string;
  /** @default - 1 s doubling per attempt, at most 15 minutes */
  readonly backoff?: BackoffOptions;
  /** Largest payload, in bytes of JSON. @default 65_536 */
  readonly maxPayloadBytes?: number;
  /** Clock for lease, delay and backoff times (epoch ms). @default Date.now */
  readonly clock?: () => number;
}

interface JobRecord {
  id: string;
  tenant: string;
  type: string;
  /** JSON text of the payload, so Lua's cjson never re-encodes user data. */
  payload: string;
  priority: Priority;
  maxAttempts: number;
  attempts: number;
  state: JobState;
  createdAt: number;
  runAt?: number;
  lease?: string;
  leaseUntil?: number;
  finishedAt?: number;
  lastError?: string;
  /** The idem hash field, so prune can remove it with the job. */
  idem?: string;
  /** JSON text of what the handler returned, kept by ack. */
  result?: string;
}

const TYPE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const JOB_ID = /^[A-Za-z0-9_-]{22}$/;
const MAX_ERROR_CHARS = 2_000;
const MAX_BATCH = 1_000;
/** Largest handler result kept, in bytes of JSON; a larger one is dropped (the job still succeeds). */
export const MAX_RESULT_BYTES = 16_384;
/** Index entries one list or redrive call reads at most: its cost does not grow with the tenant. */
const WALK_BUDGET = 200;

/**
 * An at-least-once job queue on one Redis, made for Lambda: no blocking commands (there are none
 * over Upstash REST), no timers, and every operation one script (one command, one round trip).
 *
 * Dequeue leases a job; ack completes it; fail retries it with exponential backoff or, after
 * `maxAttempts` deliveries, dead-letters it with its last error. A job whose worker died keeps its
 * lease until {@link JobQueue.requeueExpired} (the maintenance job) puts it back. A job id is
 * always in exactly one of ready / delayed / inflight / done / dead, so none is ever lost.
 *
 * Queues are shared by all tenants (one drain per queue); every job carries its tenant, and
 * {@link JobQueue.status} shows a tenant only its own jobs.
 *
 * @example
 * const queue = new JobQueue({ redis, keys });
 * const { id } = await queue.enqueue({ tenant: 'acme', type: 'cache.invalidate-prefix', payload: { prefix: 'user:' } });
 * const job = await queue.dequeue({ leaseMs: 30_000 });
 * if (job) await queue.ack(job);
 */
export class JobQueue {
  /** The queue's name. */
  readonly name: string;
  readonly #redis: RedisLike;
  readonly #clock: () => number;
  readonly #backoff: Required<BackoffOptions>;
  readonly #maxPayloadBytes: number;
  readonly #fence: (id: string) => string;
  readonly #index: (tenant: string) => string;
  readonly #k: Readonly<Record<'ready' | 'delayed' | 'inflight' | 'done' | 'dead' | 'jobs' | 'idem', string>>;

  constructor(options: JobQueueOptions) {
    this.name = options.name ?? DEFAULT_QUEUE;
    if (!TYPE.test(this.name)) throw new ValidationError(`queue name must match ${TYPE}, got "${this.name}"`);
    this.#redis = toRedisLike(options.redis);
    this.#clock = options.clock ?? Date.now;
    this.#backoff = { baseMs: 1_000, maxMs: 900_000, ...options.backoff };
    this.#maxPayloadBytes = options.maxPayloadBytes ?? 65_536;
    const key = (part: string) => options.keys.global('queue', this.name, part);
    this.#fence = (id) => key(`f:${id}`);
    this.#index = (tenant) => options.keys.internal('queue', tenant, this.name, 'jobs');
    this.#k = {
      ready: key('ready'),
      delayed: key('delayed'),
      inflight: key('inflight'),
      done: key('done'),
      dead: key('dead'),
      jobs: key('jobs'),
      idem: key('idem'),
    };
  }

  /** Every Redis key of this queue (for tests, audits and IAM-free inspection). */
  get keys(): Readonly<Record<'ready' | 'delayed' | 'inflight' | 'done' | 'dead' | 'jobs' | 'idem', string>> {
    return this.#k;
  }

  /**
   * Adds a job. One command, one round trip.
   *
   * An enqueue whose answer is lost is settled before this returns: the job's id when it was
   * added, or UpstashUnavailableError with `outcome: 'not-applied'` after fencing the id off, so
   * no copy of it can be added later (no duplicate after a retry). `unknown` only when the
   * database stays unreachable until `settleBy`; with an idempotency key a retry is safe then too.
   * @throws ValidationError on a bad type, priority, delay, attempts or key; PayloadTooLargeError
   */
  async enqueue(input: EnqueueInput, options: EnqueueOptions = {}): Promise<EnqueueResult> {
    const tenant = validateTenant(input.tenant);
    if (typeof input.type !== 'string' || !TYPE.test(input.type)) {
      throw new ValidationError('type must be 1-64 characters of A-Z, a-z, 0-9, ".", "_" or "-"');
    }
    const priority = input.priority ?? 'normal';
    if (!(priority in BAND))
      throw new ValidationError(`priority must be high, normal or low, got "${priority}"`);
    const delayMs = input.delayMs ?? 0;
    if (!Number.isSafeInteger(delayMs) || delayMs < 0) {
      throw new ValidationError(`delayMs must be a non-negative integer, got ${delayMs}`);
    }
    const maxAttempts = input.maxAttempts ?? 3;
    if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 100) {
      throw new ValidationError(`maxAttempts must be an integer from 1 to 100, got ${maxAttempts}`);
    }
    // Depth-checked: no payload can overflow the stack here or where it is read back.
    const payload = stringifyJson(input.payload ?? null, 'the job payload');
    if (Buffer.byteLength(payload, 'utf8') > this.#maxPayloadBytes) {
      throw new PayloadTooLargeError(`job payload is larger than ${this.#maxPayloadBytes} bytes`);
    }
    const idem =
      input.idempotencyKey === undefined
        ? ''
        : `${tenant}:${validateId(input.idempotencyKey, 'idempotencyKey')}`;

    const now = this.#clock();
    if (options.id !== undefined && !JOB_ID.test(options.id)) {
      throw new ValidationError('a job id must be 22 characters of base64url (see newJobId)');
    }
    const id = options.id ?? newJobId();
    const delayed = delayMs > 0;
    const record: JobRecord = {
      id,
      tenant,
      type: input.type,
      payload,
      priority,
      maxAttempts,
      attempts: 0,
      state: delayed ? 'delayed' : 'ready',
      createdAt: now,
      ...(delayed ? { runAt: now + delayMs } : {}),
      ...(idem ? { idem } : {}),
    };
    const score = delayed ? now + delayMs : BAND[priority] * BAND_WIDTH + now;
    const fence = this.#fence(id);
    const index = this.#index(tenant);
    const { receipt } = options;
    const circuit = circuitFor(this.#redis);
    return settle<EnqueueResult>(
      // While the database counts as down nothing is sent: a fast 503, nothing to settle.
      () =>
        throughCircuit(circuit, async () => {
          const [resultId, state] = await runScript<[string, number]>(
            this.#redis,
            ENQUEUE_SCRIPT,
            [this.#k.jobs, this.#k.idem, this.#k.ready, this.#k.delayed, fence, index, receipt?.key ?? index],
            [
              id,
              JSON.stringify(record),
              idem,
              score,
              delayed ? '1' : '0',
              now,
              receipt ? receipt.value({ id, duplicate: false }) : '',
              receipt?.ttlMs ?? 0,
            ],
          );
          if (Number(state) === 2) {
            throw new UpstashUnavailableError('this enqueue was given up on', { outcome: 'not-applied' });
          }
          if (Number(state) === 0) receipt?.written();
          return { id: resultId, duplicate: Number(state) === 1 };
        }),
      {
        // Wall-clock time, whatever the queue's clock: this bounds a wait, it is not job time.
        deadline: options.settleBy ?? Date.now() + 5_000,
        resolve: async (): Promise<Resolution<EnqueueResult>> => {
          // Not held back by an open circuit: this is what makes the answer certain.
          const added = await runScript<number>(
            this.#redis,
            RESOLVE_ENQUEUE_SCRIPT,
            [this.#k.jobs, fence],
            [id, FENCE_TTL_MS],
          );
          circuit.success();
          if (Number(added) !== 1) return { applied: false };
          // The script that added it wrote the receipt in the same step.
          receipt?.written();
          return { applied: true, value: { id, duplicate: false } };
        },
      },
    );
  }

  /**
   * Leases the first ready job of the highest priority and counts the attempt. One command, one
   * round trip. Delayed jobs become ready through {@link JobQueue.promoteDue}.
   *
   * @param options.leaseMs how long the caller may work on the job before it can be requeued
   * @returns the job, or `null` when nothing is ready
   */
  async dequeue(options: { readonly leaseMs: number }): Promise<Job | null> {
    const { leaseMs } = options;
    if (!Number.isSafeInteger(leaseMs) || leaseMs < 1) {
      throw new ValidationError(`leaseMs must be a positive integer, got ${leaseMs}`);
    }
    const lease = randomBytes(16).toString('base64url');
    const raw = await runScript<string | null>(
      this.#redis,
      DEQUEUE_SCRIPT,
      [this.#k.ready, this.#k.inflight, this.#k.jobs],
      [this.#clock(), leaseMs, lease],
    );
    if (raw === null) return null;
    const record = JSON.parse(raw) as JobRecord;
    return {
      id: record.id,
      tenant: record.tenant,
      type: record.type,
      payload: JSON.parse(record.payload),
      priority: record.priority,
      attempts: record.attempts,
      maxAttempts: record.maxAttempts,
      createdAt: record.createdAt,
      lease,
      leaseUntil: record.leaseUntil ?? 0,
    };
  }

  /**
   * Completes a job, keeping `result` (what its handler returned) for {@link JobQueue.status}:
   * JSON up to {@link MAX_RESULT_BYTES}, a larger or unserializable one is not kept. One command,
   * one round trip.
   * @returns `false` when the caller's lease is gone (it expired and the job was requeued)
   */
  async ack(job: Pick<Job, 'id' | 'lease'>, result?: unknown): Promise<boolean> {
    let kept = '';
    if (result !== undefined) {
      try {
        const json = stringifyJson(result, 'the job result');
        if (Buffer.byteLength(json, 'utf8') <= MAX_RESULT_BYTES) kept = json;
      } catch {
        // Not JSON: the job still succeeded; its result is just not kept.
      }
    }
    const reply = await runScript<number>(
      this.#redis,
      ACK_SCRIPT,
      [this.#k.inflight, this.#k.done, this.#k.jobs],
      [job.id, job.lease, this.#clock(), kept],
    );
    return reply === 1;
  }

  /**
   * Records a failed attempt: a retry after exponential backoff, or the dead letters once
   * `maxAttempts` deliveries are used (or at once when not retryable). One command.
   */
  async fail(
    job: Pick<Job, 'id' | 'lease' | 'attempts'>,
    error: unknown,
    options: FailOptions = {},
  ): Promise<FailResult> {
    const text = (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(
      0,
      MAX_ERROR_CHARS,
    );
    const reply = await runScript<[number, string?, number?]>(
      this.#redis,
      FAIL_SCRIPT,
      [this.#k.inflight, this.#k.delayed, this.#k.dead, this.#k.jobs],
      [
        job.id,
        job.lease,
        this.#clock(),
        text,
        this.backoffMs(job.attempts),
        options.retryable === false ? '0' : '1',
      ],
    );
    if (reply[0] !== 1) return { success: false };
    return reply[1] === 'delayed'
      ? { success: true, state: 'delayed', retryAt: Number(reply[2]) }
      : { success: true, state: 'dead' };
  }

  /** The wait before retrying after failed attempt number `attempts`, in ms. */
  backoffMs(attempts: number): number {
    const base = Math.min(this.#backoff.maxMs, this.#backoff.baseMs * 2 ** Math.max(0, attempts - 1));
    return Math.round(base + Math.random() * base * 0.2);
  }

  /**
   * Puts jobs whose lease ended back to ready (dead letters when their attempts are used), in
   * batches until none is left. Safe to run from several processes at once.
   */
  async requeueExpired(
    options: { readonly batch?: number } = {},
  ): Promise<{ requeued: number; deadLettered: number }> {
    const batch = batchSize(options.batch);
    let requeued = 0;
    let deadLettered = 0;
    for (;;) {
      const [r, d] = await runScript<[number, number]>(
        this.#redis,
        REQUEUE_EXPIRED_SCRIPT,
        [this.#k.inflight, this.#k.ready, this.#k.dead, this.#k.jobs],
        [this.#clock(), batch],
      );
      requeued += r;
      deadLettered += d;
      if (r + d < batch) return { requeued, deadLettered };
    }
  }

  /** Moves due delayed jobs (delays and retry backoffs) to ready, in batches until none is left. */
  async promoteDue(options: { readonly batch?: number } = {}): Promise<number> {
    const batch = batchSize(options.batch);
    let promoted = 0;
    for (;;) {
      const n = await runScript<number>(
        this.#redis,
        PROMOTE_DUE_SCRIPT,
        [this.#k.delayed, this.#k.ready, this.#k.jobs],
        [this.#clock(), batch],
      );
      promoted += n;
      if (n < batch) return promoted;
    }
  }

  /**
   * Forgets finished jobs older than the retention: completed ones after `doneMs`, dead letters
   * after `deadMs`, with their idempotency keys.
   */
  async prune(
    options: { readonly doneMs?: number; readonly deadMs?: number; readonly batch?: number } = {},
  ): Promise<{ done: number; dead: number }> {
    const now = this.#clock();
    const doneBefore = now - (options.doneMs ?? 86_400_000);
    const deadBefore = now - (options.deadMs ?? 7 * 86_400_000);
    const batch = batchSize(options.batch);
    let done = 0;
    let dead = 0;
    for (;;) {
      const [a, b, ...pairs] = await runScript<[number, number, ...string[]]>(
        this.#redis,
        PRUNE_SCRIPT,
        [this.#k.done, this.#k.dead, this.#k.jobs, this.#k.idem],
        [doneBefore, deadBefore, batch],
      );
      done += a;
      dead += b;
      await this.#unindex(pairs);
      if (a < batch && b < batch) return { done, dead };
    }
  }

  /**
   * Removes pruned ids from their tenants' indexes: one script per tenant, sent in the same tick
   * (one round trip). Should it fail, the list script drops the ids when it meets them.
   */
  async #unindex(pairs: readonly string[]): Promise<void> {
    const byTenant = new Map<string, string[]>();
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const tenant = String(pairs[i]);
      byTenant.set(tenant, [...(byTenant.get(tenant) ?? []), String(pairs[i + 1])]);
    }
    await Promise.all(
      [...byTenant].map(([tenant, ids]) =>
        runScript(this.#redis, UNINDEX_SCRIPT, [this.#index(tenant)], ids),
      ),
    );
  }

  /**
   * The status of a job of `tenant`. Another tenant's job reads as `null`, like a missing one, so
   * ids reveal nothing across tenants.
   */
  async status(tenant: string, id: string): Promise<JobStatus | null> {
    validateTenant(tenant);
    if (typeof id !== 'string' || !JOB_ID.test(id)) return null;
    const raw = await runScript<string | null>(this.#redis, STATUS_SCRIPT, [this.#k.jobs], [id]);
    if (raw === null) return null;
    const record = JSON.parse(raw) as JobRecord;
    if (record.tenant !== tenant) return null;
    return statusOf(record);
  }

  /**
   * A page of `tenant`'s jobs, newest first, optionally of one state and type, through the
   * tenant's index (never a scan of the queue). One command per page (3-5 billed), whatever the
   * page size or the number of jobs the queue holds.
   * @throws ValidationError for a bad state, type, limit or cursor
   */
  async list(tenant: string, options: ListOptions = {}): Promise<JobPage> {
    validateTenant(tenant);
    const limit = options.limit ?? 20;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 100) {
      throw new ValidationError(`limit must be a whole number from 1 to 100, got ${limit}`);
    }
    if (options.state !== undefined && !JOB_STATES.includes(options.state)) {
      throw new ValidationError(`state must be one of ${JOB_STATES.join(', ')}`);
    }
    if (options.type !== undefined && !TYPE.test(options.type)) {
      throw new ValidationError('type must be 1-64 characters of A-Z, a-z, 0-9, ".", "_" or "-"');
    }
    const [score, id] = decodeCursor(options.cursor);
    const [nextScore, nextId, ...records] = await runScript<string[]>(
      this.#redis,
      LIST_SCRIPT,
      [this.#index(tenant), this.#k.jobs],
      [score, id, limit, WALK_BUDGET, options.state ?? '', options.type ?? ''],
    );
    return {
      jobs: records.map((raw) => statusOf(JSON.parse(String(raw)) as JobRecord)),
      cursor: nextScore ? encodeCursor(String(nextScore), String(nextId)) : null,
    };
  }

  /**
   * Cancels a job of `tenant` that has not started (ready or delayed): it will never run, and
   * reads as `cancelled`. One command.
   * @param types the types the caller may act on (`'*'` for all)
   */
  async cancel(tenant: string, id: string, types: TypeFilter = '*'): Promise<JobActionResult> {
    validateTenant(tenant);
    if (typeof id !== 'string' || !JOB_ID.test(id)) return { ok: false, reason: 'not-found' };
    const reply = await runScript<[number, string?]>(
      this.#redis,
      CANCEL_SCRIPT,
      [this.#k.jobs, this.#k.ready, this.#k.delayed, this.#k.done],
      [id, tenant, this.#clock(), typeList(types)],
    );
    return actionResult(reply);
  }

  /**
   * Gives a dead letter of `tenant` a new run: back to ready, attempts reset. One command.
   * @param types the types the caller may act on (`'*'` for all)
   */
  async redrive(tenant: string, id: string, types: TypeFilter = '*'): Promise<JobActionResult> {
    validateTenant(tenant);
    if (typeof id !== 'string' || !JOB_ID.test(id)) return { ok: false, reason: 'not-found' };
    const reply = await runScript<[number, string?]>(
      this.#redis,
      REDRIVE_SCRIPT,
      [this.#k.dead, this.#k.jobs, this.#k.dead, this.#k.ready],
      [id, '', '', WALK_BUDGET, '', tenant, this.#clock(), typeList(types)],
    );
    return actionResult(reply);
  }

  /**
   * Gives every dead letter of `type` a new run: a tenant's (through its index), or, without a
   * tenant, every tenant's (through the dead set: operators, the console). One command per
   * {@link WALK_BUDGET} entries walked, until the end.
   * @returns how many jobs were redriven
   */
  async redriveAll(options: {
    readonly type: string;
    readonly tenant?: string;
    readonly types?: TypeFilter;
  }): Promise<number> {
    if (typeof options.type !== 'string' || !TYPE.test(options.type)) {
      throw new ValidationError('type must be 1-64 characters of A-Z, a-z, 0-9, ".", "_" or "-"');
    }
    const walked = options.tenant === undefined ? this.#k.dead : this.#index(validateTenant(options.tenant));
    let redriven = 0;
    let score = '';
    let id = '';
    do {
      const [n, nextScore, nextId] = await runScript<[number, string, string]>(
        this.#redis,
        REDRIVE_SCRIPT,
        [walked, this.#k.jobs, this.#k.dead, this.#k.ready],
        [
          '',
          score,
          id,
          WALK_BUDGET,
          options.type,
          options.tenant ?? '',
          this.#clock(),
          typeList(options.types ?? '*'),
        ],
      );
      redriven += Number(n);
      score = String(nextScore ?? '');
      id = String(nextId ?? '');
    } while (score !== '');
    return redriven;
  }

  /**
   * Drops a dead letter of `tenant` for good (it will not run, and reads as missing). One command.
   * @param types the types the caller may act on (`'*'` for all)
   */
  async drop(tenant: string, id: string, types: TypeFilter = '*'): Promise<JobActionResult> {
    validateTenant(tenant);
    if (typeof id !== 'string' || !JOB_ID.test(id)) return { ok: false, reason: 'not-found' };
    const reply = await runScript<[number, string?]>(
      this.#redis,
      DROP_SCRIPT,
      [this.#k.jobs, this.#k.dead, this.#index(tenant), this.#k.idem],
      [id, tenant, typeList(types)],
    );
    return actionResult(reply);
  }

  /**
   * The jobs of each type that are ready, delayed, in flight and dead, every tenant's, in one
   * command. Reads at most `limit` jobs of each set (`truncated` says when a set holds more), so
   * its cost is bounded: for operators and the local console, not for a request path.
   */
  async countsByType(options: { readonly limit?: number } = {}): Promise<TypeCounts> {
    const limit = options.limit ?? 1_000;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) {
      throw new ValidationError(`limit must be a whole number from 1 to 10000, got ${limit}`);
    }
    const raw = await runScript<string>(
      this.#redis,
      COUNTS_BY_TYPE_SCRIPT,
      [this.#k.ready, this.#k.delayed, this.#k.inflight, this.#k.dead, this.#k.jobs],
      [limit],
    );
    const parsed = JSON.parse(raw) as { counts: Record<string, StateCounts> | []; truncated: boolean };
    // cjson writes an empty table as [].
    return { counts: Array.isArray(parsed.counts) ? {} : parsed.counts, truncated: parsed.truncated };
  }

  /** Job counts per set, in one command. */
  async stats(): Promise<QueueStats> {
    const [high, normal, low, delayed, inFlight, done, deadLetters] = (
      await runScript<number[]>(
        this.#redis,
        STATS_SCRIPT,
        [this.#k.ready, this.#k.delayed, this.#k.inflight, this.#k.done, this.#k.dead],
        [],
      )
    ).map(Number);
    return {
      ready: { high: high ?? 0, normal: normal ?? 0, low: low ?? 0 },
      delayed: delayed ?? 0,
      inFlight: inFlight ?? 0,
      done: done ?? 0,
      deadLetters: deadLetters ?? 0,
    };
  }
}

/** What a tenant may see of a record (no lease token, no payload). */
function statusOf(record: JobRecord): JobStatus {
  return {
    id: record.id,
    type: record.type,
    state: record.state,
    priority: record.priority,
    attempts: record.attempts,
    maxAttempts: record.maxAttempts,
    createdAt: record.createdAt,
    ...(record.runAt !== undefined && record.state === 'delayed' ? { runAt: record.runAt } : {}),
    ...(record.finishedAt !== undefined ? { finishedAt: record.finishedAt } : {}),
    ...(record.lastError !== undefined ? { lastError: record.lastError } : {}),
    ...(typeof record.result === 'string' ? { result: JSON.parse(record.result) as unknown } : {}),
  };
}

const typeList = (types: TypeFilter): string => (types === '*' ? '*' : `,${[...types].join(',')},`);

function actionResult(reply: readonly [number, string?]): JobActionResult {
  const [code, detail] = reply;
  if (Number(code) === 1) return { ok: true, job: statusOf(JSON.parse(String(detail)) as JobRecord) };
  if (Number(code) === 2) return { ok: false, reason: 'state', state: String(detail) as JobState };
  if (Number(code) === 3) return { ok: false, reason: 'type', type: String(detail) };
  return { ok: false, reason: 'not-found' };
}

/** An opaque page cursor: the score and id of the last index entry read. */
const encodeCursor = (score: string, id: string): string =>
  Buffer.from(`${score}:${id}`).toString('base64url');

function decodeCursor(cursor: string | undefined): [string, string] {
  if (cursor === undefined || cursor === '') return ['', ''];
  const text = /^[A-Za-z0-9_-]{1,64}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const match = /^(\d{1,16}):([A-Za-z0-9_-]{22})$/.exec(text);
  if (!match) throw new ValidationError('cursor is not one this API returned');
  return [match[1] as string, match[2] as string];
}

function batchSize(batch = 500): number {
  if (!Number.isSafeInteger(batch) || batch < 1 || batch > MAX_BATCH) {
    throw new ValidationError(`batch must be an integer from 1 to ${MAX_BATCH}, got ${batch}`);
  }
  return batch;
}
