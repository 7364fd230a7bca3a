import { UpstashUnavailableError } from './errors';

/**
 * Settling a write whose answer was lost. A script that creates something under a fresh id
 * (a session, a job) is not idempotent across requests: if its answer is lost (a timeout, a
 * reset after sending, a 5xx) and the caller answers 503, the write may still have applied, or
 * may apply later (a request stuck in a queue), and a retry then duplicates it. So the caller
 * finds out: a resolve script that, in one atomic step, reports the write as applied, or fences
 * its id off so a late copy can never apply. Either way the answer becomes certain: the result,
 * or a 503 whose outcome is `not-applied`. Only while the database stays unreachable until the
 * deadline does the 503 say `unknown`.
 *
 * The id is the request token: a re-run with the same id is a no-op that returns the first
 * result, which is what an `Idempotency-Key` layer needs to replay a request whose outcome it
 * does not know.
 */

/**
 * A key written in the same atomic step as a create, when the create applies: an
 * `Idempotency-Key` record, so a create and its record can never be found apart. The create's
 * service calls `value` with the result it is about to answer and `written` once the script
 * reports the create (and so the receipt) applied.
 */
export interface Receipt<T> {
  /** The key to write (in the create's database). */
  readonly key: string;
  /** Its time to live, in ms. */
  readonly ttlMs: number;
  /** The value to write, from the result the create answers when it applies. */
  value(result: T): string;
  /** Told when the create applied and wrote the receipt with it. */
  written(): void;
}

/** What a resolve script found. */
export type Resolution<T> = { readonly applied: true; readonly value: T } | { readonly applied: false };

/** Options of {@link settle}. */
export interface SettleOptions<T> {
  /**
   * Atomically: the write's result when it applied, else fences it off (`applied: false`).
   * Throws UpstashUnavailableError while the database is unreachable.
   */
  readonly resolve: () => Promise<Resolution<T>>;
  /** Epoch ms after which no new attempt starts; the 503 then says `unknown`. */
  readonly deadline: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** First wait between two resolve attempts; doubles up to {@link MAX_WAIT_MS}. */
const FIRST_WAIT_MS = 100;
const MAX_WAIT_MS = 1_000;

/** How long a fence lives: longer than any request can sit in a queue before it runs. */
export const FENCE_TTL_MS = 600_000;

/**
 * Runs `write`; when it fails with an unknown outcome, settles it with `resolve` (see the module
 * comment). Errors other than UpstashUnavailableError pass through, as do failures whose outcome
 * is already `not-applied`.
 * @throws UpstashUnavailableError with `outcome: 'not-applied'` when the write did not and never
 *   will apply, or `'unknown'` when that could not be found out before the deadline
 */
export async function settle<T>(write: () => Promise<T>, options: SettleOptions<T>): Promise<T> {
  let failure: UpstashUnavailableError;
  try {
    return await write();
  } catch (error) {
    if (!(error instanceof UpstashUnavailableError) || error.outcome === 'not-applied') throw error;
    failure = error;
  }
  const now = options.now ?? Date.now;
  for (let wait = FIRST_WAIT_MS; ; wait = Math.min(wait * 2, MAX_WAIT_MS)) {
    let found: Resolution<T>;
    try {
      found = await options.resolve();
    } catch (error) {
      if (!(error instanceof UpstashUnavailableError)) throw error;
      if (now() + wait >= options.deadline) throw failure;
      await new Promise((resolve) => setTimeout(resolve, wait));
      continue;
    }
    if (found.applied) return found.value;
    throw new UpstashUnavailableError(failure.message, { outcome: 'not-applied', cause: failure });
  }
}
