import type { Logger } from '@aws-lambda-powertools/logger';
import { errorCode } from './errors';
import { httpStatus } from './http-status';

/** Fields of a failure line besides the error. */
export interface FailureFields {
  /** The HTTP status answered, when there was an answer. @default - the code's status */
  readonly status?: number;
  /** @default - the error's code (`INTERNAL_ERROR` for an untyped error) */
  readonly code?: string;
  /** @default - `warn` for a 503, `error` otherwise */
  readonly level?: 'warn' | 'error';
  readonly [field: string]: unknown;
}

/**
 * Logs a failure once, the same way in every function: WARN when it means "unavailable, retry"
 * (status 503), ERROR otherwise, with its `code` and the error (Powertools renders its name,
 * message, stack and cause). Messages of our errors never carry a secret's value; callers add
 * only ids and counts, never keys, tokens or stored values.
 */
export function logFailure(
  logger: Logger,
  message: string,
  error: unknown,
  fields: FailureFields = {},
): void {
  const { level: chosen, ...rest } = fields;
  const code = fields.code ?? errorCode(error);
  const level = chosen ?? ((fields.status ?? httpStatus(code)) === 503 ? 'warn' : 'error');
  const line = { ...rest, code, ...(error !== undefined ? { error } : {}) };
  if (level === 'warn') logger.warn(message, line);
  else logger.error(message, line);
}
