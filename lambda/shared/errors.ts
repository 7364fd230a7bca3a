/**
 * Typed errors of the runtime. Expected outcomes (a cache miss, a rejected rate-limit check, a
 * lock held by someone else) are return values; these are for what a caller did not expect.
 * HTTP-facing ones carry a `statusCode`; `lambda/shared/http.ts` maps them in one place.
 */
export class AppError extends Error {
  /** Stable machine-readable code, e.g. `VALIDATION_ERROR`. */
  readonly code: string;
  /** HTTP status this error maps to. */
  readonly statusCode: number;

  constructor(code: string, statusCode: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.statusCode = statusCode;
  }

  /** The public body: never the cause, never a stack. */
  toJSON(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Input that breaks a rule: a bad key, a bad TTL, a malformed body. */
export class ValidationError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('VALIDATION_ERROR', 400, message, options);
  }
}

/** A value larger than the configured limit. */
export class PayloadTooLargeError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('PAYLOAD_TOO_LARGE', 413, message, options);
  }
}

/** Something that should exist does not (a job id, a route). */
export class NotFoundError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('NOT_FOUND', 404, message, options);
  }
}

/** A state conflict, e.g. updating a session that expired meanwhile. */
export class ConflictError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('CONFLICT', 409, message, options);
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
    super('UPSTASH_UNAVAILABLE', 503, message, options);
    this.outcome = options?.outcome ?? 'unknown';
    // Not enumerable: a bookkeeping token has no place in a logged error.
    Object.defineProperty(this, 'roundTrip', { value: options?.roundTrip, enumerable: false });
  }

  override toJSON(): { code: string; message: string; outcome: WriteOutcome } {
    return { ...super.toJSON(), outcome: this.outcome };
  }
}

/**
 * Credentials cannot be loaded or are malformed. The message names the secret and the field,
 * never a value.
 */
export class CredentialsError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('CREDENTIALS_ERROR', 500, message, options);
  }
}

/** The deployment's configuration (environment) is wrong. */
export class ConfigurationError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('CONFIGURATION_ERROR', 500, message, options);
  }
}

/** A request without usable credentials. */
export class UnauthorizedError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('UNAUTHORIZED', 401, message, options);
  }
}

/** Credentials that do not grant what the request needs (a missing scope). */
export class ForbiddenError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('FORBIDDEN', 403, message, options);
  }
}

/** A known path with a method it does not serve. */
export class MethodNotAllowedError extends AppError {
  /** The methods the path serves, for the `Allow` header. */
  readonly allow: readonly string[];

  constructor(message: string, allow: readonly string[], options?: ErrorOptions) {
    super('METHOD_NOT_ALLOWED', 405, message, options);
    this.allow = allow;
  }
}

/** A body in a media type the route does not read. */
export class UnsupportedMediaTypeError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('UNSUPPORTED_MEDIA_TYPE', 415, message, options);
  }
}
