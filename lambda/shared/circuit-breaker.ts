import { UpstashUnavailableError, ValidationError } from './errors';

/**
 * The one rule that decides when a database counts as down in this container: the cache serves
 * from its fallback LRU, and a rate limiter applies its outage policy, only while the circuit of
 * {@link CircuitBreaker} is open.
 *
 * What counts is a failed **round trip** to the database (an {@link UpstashUnavailableError}: it
 * could not connect, the connection broke, the server answered 5xx, or it stayed silent for the
 * client timeout while this process was idle; see `lambda/shared/client.ts`). Every command that
 * auto-pipelining put into one HTTP request fails with that request, so one slow answer in a burst
 * is ONE failure, not one per command. Redis error replies and auth failures are answers: the
 * server is reachable.
 */

/** Options of {@link CircuitBreaker}. Durations in milliseconds. */
export interface CircuitBreakerOptions {
  /**
   * Failed round trips in a row (no success between them) that open the circuit.
   * @default 3
   */
  readonly failureThreshold?: number;
  /**
   * Share of failed outcomes over `windowMs` that opens the circuit even with successes in
   * between (a flapping connection), from 0 to 1.
   * @default 0.5
   */
  readonly failureRate?: number;
  /**
   * Outcomes the window must hold before `failureRate` is considered.
   * @default 10
   */
  readonly minimumCalls?: number;
  /**
   * Length of the failure-rate window.
   * @default 10_000
   */
  readonly windowMs?: number;
  /**
   * Wait before the first probe once the circuit opened; each failed probe doubles it.
   * @default 1_000
   */
  readonly firstProbeMs?: number;
  /**
   * Longest wait between two probes.
   * @default 30_000
   */
  readonly probeIntervalMs?: number;
  /**
   * The clock, in epoch ms.
   * @default Date.now
   */
  readonly now?: () => number;
  /**
   * Which errors count as failures; any other is an answer of the server (a success).
   * @default - an UpstashUnavailableError: the database could not be reached
   */
  readonly isFailure?: (error: unknown) => boolean;
}

/** What a caller may do now: call the database, call it as the one probe, or skip it. */
export type CircuitPermit = 'call' | 'probe' | 'skip';

/** The failure-rate window is counted in this many slices (constant memory and time per call). */
const SLICES = 10;
/** A probe that never reported (its caller crashed) stops blocking the next one after this long. */
const STALE_PROBE_MS = 60_000;

/**
 * A circuit breaker for one database client. Closed: every call goes through. Open (after
 * `failureThreshold` failed round trips in a row, or a failure rate above `failureRate` over
 * `windowMs`): calls skip the database, except one probe after `firstProbeMs`, doubling up to
 * `probeIntervalMs` while probes fail; the first success closes it.
 *
 * @example
 * const breaker = new CircuitBreaker();
 * const permit = breaker.permit();
 * if (permit === 'skip') return fromMemory();
 * try { const value = await redis.get(key); breaker.success(); return value; }
 * catch (error) { breaker.failure(error); throw error; }
 */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #rate: number;
  readonly #minimumCalls: number;
  readonly #windowMs: number;
  readonly #firstProbeMs: number;
  readonly #maxProbeMs: number;
  readonly #now: () => number;
  readonly #isFailure: (error: unknown) => boolean;
  /** Round trips already counted (each failed command of one round trip carries the same one). */
  readonly #seen = new WeakSet<object>();
  /** Outcomes per slice of the window: slice index, calls, failures (a ring). */
  readonly #slices = Array.from({ length: SLICES }, () => ({ index: -1, calls: 0, failed: 0 }));
  #inRow = 0;
  #openedAt: number | null = null;
  #probeWaitMs: number;
  #nextProbeAt = 0;
  #probing = false;
  #probeStartedAt = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    this.#threshold = positive(options.failureThreshold ?? 3, 'failureThreshold');
    this.#rate = options.failureRate ?? 0.5;
    if (!(this.#rate > 0 && this.#rate <= 1)) {
      throw new ValidationError(`failureRate must be above 0 and at most 1, got ${this.#rate}`);
    }
    this.#minimumCalls = positive(options.minimumCalls ?? 10, 'minimumCalls');
    this.#windowMs = positive(options.windowMs ?? 10_000, 'windowMs');
    this.#maxProbeMs = positive(options.probeIntervalMs ?? 30_000, 'probeIntervalMs');
    this.#firstProbeMs = Math.min(positive(options.firstProbeMs ?? 1_000, 'firstProbeMs'), this.#maxProbeMs);
    this.#probeWaitMs = this.#firstProbeMs;
    this.#now = options.now ?? Date.now;
    this.#isFailure = options.isFailure ?? ((error) => error instanceof UpstashUnavailableError);
  }

  /** Whether the circuit is open (the database counts as down in this container). */
  get isOpen(): boolean {
    return this.#openedAt !== null;
  }

  /**
   * May the caller use the database now? `call` while closed; while open, `probe` for exactly
   * one caller once the probe wait has passed (report its outcome), `skip` for everyone else.
   */
  permit(): CircuitPermit {
    if (this.#openedAt === null) return 'call';
    const now = this.#now();
    if (now < this.#nextProbeAt) return 'skip';
    if (this.#probing && now - this.#probeStartedAt < STALE_PROBE_MS) return 'skip';
    this.#probing = true;
    this.#probeStartedAt = now;
    return 'probe';
  }

  /** The database answered (a Redis error reply is an answer too): closes the circuit. */
  success(): void {
    this.#inRow = 0;
    this.#probing = false;
    if (this.#openedAt !== null) {
      this.#openedAt = null;
      this.#probeWaitMs = this.#firstProbeMs;
      for (const slice of this.#slices) slice.index = -1;
    }
    this.#record(false);
  }

  /**
   * Reports a failed call. Only {@link UpstashUnavailableError}s count, each round trip once;
   * anything else is an answer of the server and counts as a {@link success}.
   * @returns whether the circuit is open now.
   */
  failure(error: unknown): boolean {
    if (!this.#isFailure(error)) {
      this.success();
      return false;
    }
    const roundTrip = error instanceof UpstashUnavailableError ? error.roundTrip : undefined;
    if (roundTrip) {
      if (this.#seen.has(roundTrip)) return this.isOpen;
      this.#seen.add(roundTrip);
    }
    const now = this.#now();
    if (this.#openedAt !== null) {
      // A failed probe (or a call that was in flight when the circuit opened): wait longer.
      if (this.#probing) {
        this.#probing = false;
        this.#probeWaitMs = Math.min(this.#probeWaitMs * 2, this.#maxProbeMs);
        this.#nextProbeAt = now + this.#probeWaitMs;
      }
      return true;
    }
    this.#inRow += 1;
    this.#record(true);
    if (this.#inRow >= this.#threshold || this.#rateExceeded(now)) {
      this.#openedAt = now;
      this.#probeWaitMs = this.#firstProbeMs;
      this.#nextProbeAt = now + this.#probeWaitMs;
    }
    return this.isOpen;
  }

  #sliceIndex(now: number): number {
    return Math.floor(now / Math.max(1, Math.ceil(this.#windowMs / SLICES)));
  }

  #record(failed: boolean): void {
    const index = this.#sliceIndex(this.#now());
    const slice = this.#slices[index % SLICES] as { index: number; calls: number; failed: number };
    if (slice.index !== index) {
      slice.index = index;
      slice.calls = 0;
      slice.failed = 0;
    }
    slice.calls += 1;
    if (failed) slice.failed += 1;
  }

  #rateExceeded(now: number): boolean {
    const current = this.#sliceIndex(now);
    let calls = 0;
    let failed = 0;
    for (const slice of this.#slices) {
      if (slice.index <= current - SLICES) continue;
      calls += slice.calls;
      failed += slice.failed;
    }
    return calls >= this.#minimumCalls && failed / calls >= this.#rate;
  }
}

function positive(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ValidationError(`${what} must be a positive integer, got ${value}`);
  }
  return value;
}

const circuits = new WeakMap<object, CircuitBreaker>();

/**
 * The circuit of one database client, shared by every service on it in this container (the
 * runtime builds one client per database): the rate limiters' checks, the cache, and the creates
 * that settle their lost answers all see the same state.
 */
export function circuitFor(redis: object): CircuitBreaker {
  let circuit = circuits.get(redis);
  if (!circuit) {
    circuit = new CircuitBreaker();
    circuits.set(redis, circuit);
  }
  return circuit;
}

/**
 * Runs `call` under `circuit`: while it is open (and this is not the probe) nothing is sent and
 * UpstashUnavailableError says `not-applied`; the outcome is reported either way.
 */
export async function throughCircuit<T>(circuit: CircuitBreaker, call: () => Promise<T>): Promise<T> {
  if (circuit.permit() === 'skip') {
    throw new UpstashUnavailableError('the database counts as down here (circuit open): nothing was sent', {
      outcome: 'not-applied',
    });
  }
  try {
    const value = await call();
    circuit.success();
    return value;
  } catch (error) {
    circuit.failure(error);
    throw error;
  }
}
