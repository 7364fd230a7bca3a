import { UpstashUnavailableError } from './errors';

/**
 * How a transport's failure is read, in one place: the managed client (which retries what is
 * safe and refreshes credentials) and the plain-client adapter of `redis.ts` (which does neither)
 * both turn an outage into {@link UpstashUnavailableError}, the error the cache fallback, the
 * rate limiters' outage policies and the circuit breaker understand.
 */

/** What went wrong with a command, as far as retrying is concerned. */
export type Failure =
  | { readonly type: 'auth' }
  | { readonly type: 'unavailable'; readonly reason: string; readonly sent: boolean }
  | { readonly type: 'other' };

// A rotated or wrong token: REST 401 (`Unauthorized` / `WRONGPASS ...`), TCP `WRONGPASS`/`NOAUTH`.
const AUTH = /unauthorized|wrongpass|noauth/i;
// @upstash/redis 1.39 drops the HTTP status of a non-2xx reply and keeps only its `error` text
// with `, command was: <body>` appended, so a 5xx is recognised by that suffix plus wording.
const SERVER_FAILURE =
  /unavailable|internal server error|bad gateway|gateway time-?out|timed? ?out|overloaded|try again/i;
// Connect-phase errors: nothing reached the server, so even a script may be re-sent.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

const errnoOf = (error: unknown): string | undefined => {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
  }
  return undefined;
};

/**
 * Sorts an error thrown by a transport. Exported for the unit tests; the messages it looks at
 * are those of `@upstash/redis` 1.39, undici's fetch and ioredis 5.
 */
export function classifyFailure(error: unknown): Failure {
  if (!(error instanceof Error)) return { type: 'other' };
  if (error instanceof UpstashUnavailableError) {
    const code = errnoOf(error);
    return {
      type: 'unavailable',
      reason: code ?? 'unavailable',
      sent: code === undefined || !NOT_SENT.has(code),
    };
  }
  if (error.name === 'TimeoutError' || error.name === 'AbortError') {
    return { type: 'unavailable', reason: 'timeout', sent: true };
  }
  if (error.name === 'UpstashJSONParseError') {
    // A body that is not JSON comes from a proxy or load balancer in front of Upstash.
    return { type: 'unavailable', reason: 'invalid response', sent: true };
  }
  if (error instanceof TypeError && error.message === 'fetch failed') {
    const code = errnoOf(error) ?? 'network error';
    return { type: 'unavailable', reason: code, sent: !NOT_SENT.has(code) };
  }
  // Only the server's own text counts: the `, command was:` part quotes keys, which may say anything.
  const suffix = error.message.indexOf(', command was: ');
  const text = suffix >= 0 ? error.message.slice(0, suffix) : error.message;
  if (AUTH.test(text) && (suffix >= 0 || /^(WRONGPASS|NOAUTH)\b/.test(text))) return { type: 'auth' };
  if (suffix >= 0 && SERVER_FAILURE.test(text))
    return { type: 'unavailable', reason: 'server error', sent: true };
  return { type: 'other' };
}

// Every command auto-pipelined into one HTTP request fails with the same error object; its token
// lets a circuit breaker count that request once. A token, so no error that may quote a command
// (the SDK's 5xx errors do) hangs off ours.
const roundTrips = new WeakMap<object, object>();
export function roundTripOf(error: unknown): object | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  let token = roundTrips.get(error);
  if (!token) {
    token = Object.freeze({});
    roundTrips.set(error, token);
  }
  return token;
}

/**
 * The {@link UpstashUnavailableError} of an `unavailable` failure: `not-applied` when nothing
 * was sent, `unknown` otherwise. The cause is kept only when it cannot quote the command (network
 * errors, timeouts; the SDK's own errors quote the command). `first` is the failure of the first
 * attempt when this one was a retry: the round trip it belongs to.
 */
export function unavailableError(
  what: string,
  failure: Extract<Failure, { type: 'unavailable' }>,
  error: unknown,
  first: unknown = error,
): UpstashUnavailableError {
  const safeCause = error instanceof Error && error.name !== 'UpstashError' ? { cause: error } : {};
  return new UpstashUnavailableError(`${what} is unavailable (${failure.reason})`, {
    ...safeCause,
    outcome: failure.sent ? 'unknown' : 'not-applied',
    // A retry belongs to the round trip it repeats: a breaker counts the pair once, and every
    // command of the first batch, retried apart or not, shares that one token.
    roundTrip:
      first instanceof UpstashUnavailableError && first.roundTrip ? first.roundTrip : roundTripOf(first),
  });
}
