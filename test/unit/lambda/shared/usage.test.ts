import { describe, expect, it } from 'vitest';
import {
  encodedReplyLength,
  InvocationUsage,
  respCommandLength,
  respReplyLength,
  usageRecorder,
} from '../../../../lambda/shared/usage';

const roundTrip = { commands: 1, billed: 1, requestBytes: 1, responseBytes: 1, latencyMs: 1 };
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('InvocationUsage', () => {
  it('counts each round trip into the invocation it was issued in, also when two run at once', async () => {
    const record = usageRecorder('db');
    const a = new InvocationUsage();
    const b = new InvocationUsage();
    const work = async (times: number) => {
      for (let i = 0; i < times; i++) {
        await tick();
        record(roundTrip);
      }
    };
    await Promise.all([a.run(() => work(3)), b.run(() => work(5))]);
    record(roundTrip); // outside any invocation: counted nowhere

    expect(a.logFields()).toMatchObject({ commands: 3, roundTrips: 3 });
    expect(b.logFields()).toMatchObject({ commands: 5, roundTrips: 5 });
  });
});

describe('encodedReplyLength', () => {
  // What the server sends for a reply under `Upstash-Encoding: base64`: every string in base64.
  const encode = (value: unknown): unknown =>
    typeof value === 'string'
      ? Buffer.from(value).toString('base64')
      : Array.isArray(value)
        ? value.map(encode)
        : value;

  it.each([
    ['a string', 'hello'],
    ['UTF-8', 'żółw 🐢'],
    ['an empty string', ''],
    ['an integer', 42],
    ['a negative integer', -7],
    ['nil', null],
    ['a nested array', [1, ['a', null, [2, 'bc']], 'def']],
    ['an empty array', []],
  ])('is the byte length of the JSON the server sends, for %s', (_what, value) => {
    expect(encodedReplyLength(value)).toBe(Buffer.byteLength(JSON.stringify(encode(value))));
  });
});

describe('RESP lengths', () => {
  it('measure a command as a RESP array of bulk strings', () => {
    expect(respCommandLength(['SET', 'k', 'żółw'])).toBe(
      Buffer.byteLength('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$7\r\nżółw\r\n'),
    );
  });

  it('measure replies as RESP2 bulk strings, integers, nils and arrays', () => {
    expect(respReplyLength('OK')).toBe('$2\r\nOK\r\n'.length);
    expect(respReplyLength(12)).toBe(':12\r\n'.length);
    expect(respReplyLength(null)).toBe('$-1\r\n'.length);
    expect(respReplyLength([1, 'ab', null])).toBe('*3\r\n:1\r\n$2\r\nab\r\n$-1\r\n'.length);
  });
});
