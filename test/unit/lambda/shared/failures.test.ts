import { describe, expect, it } from 'vitest';
import { UpstashUnavailableError } from '../../../../lambda/shared/errors';
import { classifyFailure } from '../../../../lambda/shared/failures';

const upstashError = (message: string) => Object.assign(new Error(message), { name: 'UpstashError' });
const fetchFailed = (code: string) =>
  new TypeError('fetch failed', { cause: Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code }) });

describe('classifyFailure', () => {
  it('treats 401 bodies and WRONGPASS/NOAUTH replies as auth failures', () => {
    expect(classifyFailure(upstashError('Unauthorized, command was: [["get","k"]]'))).toEqual({
      type: 'auth',
    });
    expect(
      classifyFailure(upstashError('WRONGPASS invalid or missing auth token, command was: [["get","k"]]')),
    ).toEqual({
      type: 'auth',
    });
    expect(classifyFailure(new Error('NOAUTH Authentication required.'))).toEqual({ type: 'auth' });
  });

  it('does not read the quoted command: a key named "unauthorized" is not an auth failure', () => {
    expect(classifyFailure(upstashError('ERR syntax error, command was: [["get","unauthorized"]]'))).toEqual({
      type: 'other',
    });
    expect(classifyFailure(upstashError('Command failed: WRONGTYPE unauthorized'))).toEqual({
      type: 'other',
    });
  });

  it('marks a connect-phase failure as not sent, so even a script may be retried', () => {
    expect(classifyFailure(fetchFailed('ECONNREFUSED'))).toEqual({
      type: 'unavailable',
      reason: 'ECONNREFUSED',
      sent: false,
    });
  });

  it('marks a reset as possibly sent, so only reads are retried', () => {
    expect(classifyFailure(fetchFailed('ECONNRESET'))).toEqual({
      type: 'unavailable',
      reason: 'ECONNRESET',
      sent: true,
    });
  });

  it('recognises timeouts, non-JSON bodies and 5xx wording', () => {
    expect(classifyFailure(new DOMException('timed out', 'TimeoutError'))).toMatchObject({
      reason: 'timeout',
    });
    expect(
      classifyFailure(Object.assign(new Error('<html>'), { name: 'UpstashJSONParseError' })),
    ).toMatchObject({
      type: 'unavailable',
    });
    expect(
      classifyFailure(upstashError('ERR Redis is unavailable: x, command was: [["ping"]]')),
    ).toMatchObject({
      type: 'unavailable',
      reason: 'server error',
    });
    expect(classifyFailure(new UpstashUnavailableError('down'))).toMatchObject({ type: 'unavailable' });
  });

  it('leaves Redis errors alone', () => {
    expect(
      classifyFailure(upstashError('Command failed: NOSCRIPT No matching script. Please use EVAL.')),
    ).toEqual({
      type: 'other',
    });
    expect(classifyFailure('not an error')).toEqual({ type: 'other' });
  });
});
