import type { ErrorCode } from './errors';

/**
 * The one map from error codes to HTTP statuses, used by the mapper in ./http.ts and by the log
 * lines of every function. Errors carry only their code; a code not listed (another library's, a
 * user's handler's) is a 500. A module of its own, so a function that only logs (the authorizer,
 * the scheduled jobs) does not load the HTTP layer and its route table.
 */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  VALIDATION_ERROR: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  LOCK_LOST: 409,
  IDEMPOTENCY_KEY_IN_USE: 409,
  IDEMPOTENCY_KEY_REUSED: 422,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INTERNAL_ERROR: 500,
  CONFIGURATION_ERROR: 500,
  CREDENTIALS_ERROR: 500,
  UPSTASH_UNAVAILABLE: 503,
};

/** The HTTP status of an error code (500 for codes not in {@link HTTP_STATUS}). */
export const httpStatus = (code: string): number =>
  Object.hasOwn(HTTP_STATUS, code) ? HTTP_STATUS[code as ErrorCode] : 500;
