/**
 * Typed errors of the runtime. Expected outcomes (a cache miss, a rejected rate-limit check, a
 * lock held by someone else) are return values; these are for what a caller did not expect.
 * Each carries a stable `code` and nothing about HTTP: `lambda/shared/http.ts` maps codes to
 * statuses in one place (`HTTP_STATUS`), so the services stay usable outside an HTTP API.
 */

/** The codes of the runtime's own errors. Others' errors may use codes of their own (500 over HTTP). */
export type ErrorCode =
  | 'VALIDATION_ERROR'
  | 'PAYLOAD_TOO_LARGE'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'UPSTASH_UNAVAILABLE'
  | 'CREDENTIALS_ERROR'
  | 'CONFIGURATION_ERROR'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'METHOD_NOT_ALLOWED'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'LOCK_LOST'
  | 'IDEMPOTENCY_KEY_IN_USE'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'INTERNAL_ERROR';

/**
 * The base of every typed error: a machine-readable `code` and a message that never holds a
 * secret's value. No `toJSON`: loggers render the whole error (name, stack, cause); response bodies
 * are built by the one mapper and never serialize an error.
 */
export class AppError extends Error {
  /** Stable machine-readable code, e.g. `VALIDATION_ERROR`. */
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Input that breaks a rule: a bad key, a bad TTL, a malformed body. */
export class ValidationError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('VALIDATION_ERROR', message, options);
  }
}

/** A value larger than the configured limit. */
export class PayloadTooLargeError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('PAYLOAD_TOO_LARGE', message, options);
  }
}

/** Something that should exist does not (a job id, a route). */
export class NotFoundError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('NOT_FOUND', message, options);
  }
}

/** A state conflict, e.g. updating a session that expired meanwhile. */
export class ConflictError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('CONFLICT', message, options);
  }
}

/**
 * A request with an `Idempotency-Key` whose first request (same key, same request) is still
 * running: retry shortly, and the stored answer of the first is replayed.
 */
export class IdempotencyInFlightError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('IDEMPOTENCY_KEY_IN_USE', message, options);
  }
}

/** An `Idempotency-Key` already used (within its lifetime) by a different request of the tenant. */
export class IdempotencyMismatchError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('IDEMPOTENCY_KEY_REUSED', message, options);
  }
}

/**
 * What a failed write did: `not-applied` when nothing reached the database (or what did was
 * fenced off so it can never apply), `unknown` when the request may have run (a timeout, a reset
 * after sending, a 5xx).
 */
export type WriteOutcome = 'not-applied' | 'unknown';

/** Options of {@link UpstashUnavailableError}. */
export interface UnavailableOptions extends ErrorOptions {
  /** @default 'unknown' */
  readonly outcome?: WriteOutcome;
  /**
   * The failed round trip: every command auto-pipelined into one HTTP request fails with the same
   * object, so a circuit breaker counts the round trip once. An opaque token, never the request.
   */
  readonly roundTrip?: object;
}

/** Upstash (or the Redis behind a TCP database) cannot be reached in time. */
export class UpstashUnavailableError extends AppError {
  /** Whether the write may have been applied; see {@link WriteOutcome}. */
  readonly outcome: WriteOutcome;
  /** See {@link UnavailableOptions.roundTrip}. */
  declare readonly roundTrip: object | undefined;

  constructor(message: string, options?: UnavailableOptions) {
    super('UPSTASH_UNAVAILABLE', message, options);
    this.outcome = options?.outcome ?? 'unknown';
    // Not enumerable: a bookkeeping token has no place in a logged error.
    Object.defineProperty(this, 'roundTrip', { value: options?.roundTrip, enumerable: false });
  }
}

/**
 * Credentials cannot be loaded or are malformed. The message names the secret and the field,
 * never a value.
 */
export class CredentialsError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('CREDENTIALS_ERROR', message, options);
  }
}

/** The deployment's configuration (environment) is wrong. */
export class ConfigurationError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('CONFIGURATION_ERROR', message, options);
  }
}

/** A request without usable credentials. */
export class UnauthorizedError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('UNAUTHORIZED', message, options);
  }
}

/** Credentials that do not grant what the request needs (a missing scope). */
export class ForbiddenError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('FORBIDDEN', message, options);
  }
}

/** A known path with a method it does not serve. */
export class MethodNotAllowedError extends AppError {
  /** The methods the path serves, for the `Allow` header. */
  readonly allow: readonly string[];

  constructor(message: string, allow: readonly string[], options?: ErrorOptions) {
    super('METHOD_NOT_ALLOWED', message, options);
    this.allow = allow;
  }
}

/** A body in a media type the route does not read. */
export class UnsupportedMediaTypeError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('UNSUPPORTED_MEDIA_TYPE', message, options);
  }
}

/** The code of any thrown value: an AppError's own, `INTERNAL_ERROR` for anything else. */
export const errorCode = (error: unknown): string =>
  error instanceof AppError ? error.code : 'INTERNAL_ERROR';
