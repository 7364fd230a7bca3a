import { describe, expect, it } from 'vitest';
import { LockLostError } from '../../../../lambda/services/lock/errors';
import {
  AppError,
  ConfigurationError,
  ConflictError,
  CredentialsError,
  ForbiddenError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
  UpstashUnavailableError,
  ValidationError,
} from '../../../../lambda/shared/errors';
import { causeOf, errorResponse, HTTP_STATUS, readQuery } from '../../../../lambda/shared/http';

describe('the one error mapper', () => {
  it('maps every error class by its code, and the classes carry no status', () => {
    const cases: Array<[AppError, number]> = [
      [new ValidationError('v'), 400],
      [new UnauthorizedError('u'), 401],
      [new ForbiddenError('f'), 403],
      [new NotFoundError('n'), 404],
      [new MethodNotAllowedError('m', ['GET']), 405],
      [new ConflictError('c'), 409],
      [new LockLostError('l'), 409],
      [new PayloadTooLargeError('p'), 413],
      [new UnsupportedMediaTypeError('t'), 415],
      [new ConfigurationError('cfg'), 500],
      [new CredentialsError('cred'), 500],
      [new UpstashUnavailableError('down'), 503],
    ];
    for (const [error, status] of cases) {
      expect(errorResponse(error).statusCode, error.code).toBe(status);
      expect(HTTP_STATUS[error.code as keyof typeof HTTP_STATUS]).toBe(status);
      expect('statusCode' in error).toBe(false);
    }
  });

  it('keeps a 4xx message, hides a 5xx one, and answers unknown codes and untyped errors with 500', () => {
    expect(JSON.parse(errorResponse(new ValidationError('ttlMs is bad')).body as string)).toEqual({
      error: { code: 'VALIDATION_ERROR', message: 'ttlMs is bad' },
    });
    const secretish = new CredentialsError('secret "upstash/main" lacks field "token"');
    expect(errorResponse(secretish).body).not.toContain('upstash/main');
    const foreign = new AppError('PLUGIN_BROKE', 'detail');
    expect(errorResponse(foreign)).toMatchObject({ statusCode: 500 });
    expect(JSON.parse(errorResponse(foreign).body as string).error).toEqual({
      code: 'PLUGIN_BROKE',
      message: 'internal error',
    });
    expect(JSON.parse(errorResponse(new TypeError('x is undefined')).body as string).error).toEqual({
      code: 'INTERNAL_ERROR',
      message: 'internal error',
    });
    const unavailable = errorResponse(new UpstashUnavailableError('db "cache" timed out'));
    expect(unavailable.headers['retry-after']).toBe('1');
    expect(errorResponse(new MethodNotAllowedError('m', ['GET', 'PUT'])).headers.allow).toBe('GET, PUT');
  });

  it('keeps the cause with the response, for the one log line of a 5xx', () => {
    const error = new UpstashUnavailableError('down');
    expect(causeOf(errorResponse(error))).toBe(error);
  });
});

describe('strict query strings', () => {
  const declared = {
    ttlMs: { type: 'integer', min: 1, max: 100, description: 'ttl' },
    mode: { type: 'enum', values: ['nx', 'xx'], description: 'mode' },
  } as const;

  it('types the declared parameters and refuses unknown ones first, naming what is allowed', () => {
    expect(readQuery({ ttlMs: '5', mode: 'nx' }, declared)).toEqual({ ttlMs: 5, mode: 'nx' });
    expect(() => readQuery({ ttlMs: 'x', ttl: '5' }, declared)).toThrow(
      'unknown query parameter "ttl"; allowed: ttlMs, mode',
    );
    expect(() => readQuery({ a: '1' })).toThrow('this route takes no query parameters');
    expect(() => readQuery({ mode: 'nx,xx' }, declared)).toThrow('mode must be "nx" or "xx"');
    expect(() => readQuery({ ttlMs: '101' }, declared)).toThrow(ValidationError);
    expect(() => readQuery(JSON.parse('{"__proto__":"1"}'), declared)).toThrow('"__proto__"');
    expect(readQuery({})).toEqual({});
  });
});
