import { describe, expect, it } from 'vitest';
import { itemBody, replyToJson, resultBody } from '../../../local/upstash/reply';
import { type Reply, RespBigInt, RespError, RespParser } from '../../../local/upstash/resp';
import { ScriptCache, sha1 } from '../../../local/upstash/scripts';

describe('replyToJson', () => {
  it('writes integer replies digit for digit, past 2^53 too', () => {
    expect(replyToJson(new RespBigInt('-9223372036854775808'), false)).toBe('-9223372036854775808');
    expect(replyToJson(42, true)).toBe('42');
  });

  it('writes bulk strings as text, or base64 of their exact bytes', () => {
    const bytes = Buffer.from([0xff, 0x00, 0x41]);
    expect(replyToJson(bytes, true)).toBe(JSON.stringify(bytes.toString('base64')));
    expect(replyToJson(Buffer.from('é"\n'), false)).toBe('"é\\"\\n"');
  });

  it('keeps the result key for null', () => {
    expect(resultBody(null, true)).toBe('{"result":null}');
  });

  it('recurses into nested arrays, and never encodes an error item', () => {
    expect(replyToJson([Buffer.from('OK'), 3, [null, Buffer.from('a')]], true)).toBe(
      '["T0s=",3,[null,"YQ=="]]',
    );
    expect(itemBody(new RespError('ERR x'), true)).toBe('{"error":"ERR x"}');
  });
});

describe('RespParser', () => {
  const parse = (...chunks: string[]): Reply[] => {
    const out: Reply[] = [];
    const parser = new RespParser((r) => out.push(r));
    for (const chunk of chunks) parser.feed(Buffer.from(chunk, 'latin1'));
    return out;
  };

  it('reads every RESP2 type', () => {
    expect(parse('+OK\r\n-ERR no\r\n:-12\r\n$3\r\nabc\r\n$-1\r\n*-1\r\n*0\r\n')).toEqual([
      Buffer.from('OK'),
      new RespError('ERR no'),
      -12,
      Buffer.from('abc'),
      null,
      null,
      [],
    ]);
  });

  it('keeps integers beyond 15 digits exact', () => {
    expect(parse(':9223372036854775807\r\n')).toEqual([new RespBigInt('9223372036854775807')]);
  });

  it('resumes a reply split anywhere, nested arrays and bulk strings included', () => {
    const wire = '*3\r\n$5\r\nhello\r\n*2\r\n:1\r\n-ERR x\r\n$0\r\n\r\n+PONG\r\n';
    const expected = [
      [Buffer.from('hello'), [1, new RespError('ERR x')], Buffer.alloc(0)],
      Buffer.from('PONG'),
    ];
    for (let cut = 1; cut < wire.length; cut++) {
      expect(parse(wire.slice(0, cut), wire.slice(cut))).toEqual(expected);
    }
    expect(parse(...wire.split(''))).toEqual(expected);
  });

  it('assembles a large bulk string from many chunks', () => {
    const value = 'x'.repeat(200_000);
    const wire = `$${value.length}\r\n${value}\r\n:7\r\n`;
    const chunks = [];
    for (let i = 0; i < wire.length; i += 65_536) chunks.push(wire.slice(i, i + 65_536));
    const out = parse(...chunks);
    expect(out).toHaveLength(2);
    expect((out[0] as Buffer).toString()).toBe(value);
    expect(out[1]).toBe(7);
  });
});

describe('ScriptCache', () => {
  it('strips flags Redis 7.0 does not know, keeps the ones it does, and keeps the line numbers', () => {
    const cache = new ScriptCache(0);
    const rewritten = cache.rewrite('#!lua flags=allow-key-locking,no-writes\nreturn 1');
    expect(rewritten.startsWith('#!lua flags=no-writes\nlocal redis,_G')).toBe(true);
    // The script runs inside the preamble's function, which closes on a line after its last one.
    expect(rewritten.endsWith('(function() return 1\nend)())')).toBe(true);
    expect(rewritten.split('\n')).toHaveLength(3);
    expect(cache.rewrite('#!lua flags=allow-key-locking\nreturn 1').startsWith('#!lua\nlocal redis')).toBe(
      true,
    );
    expect(cache.rewrite('return 1').split('\n')).toHaveLength(2);
  });

  it('maps the client SHA to the SHA Redis holds, per database, until SCRIPT FLUSH', () => {
    const db3 = new ScriptCache(3);
    const db4 = new ScriptCache(4);
    const script = '#!lua flags=allow-key-locking\nreturn 1';
    const prepared = db3.prepare(script);
    expect(prepared.sha).toBe(sha1(script));
    expect(prepared.redisSha).toBe(sha1(prepared.text));
    expect(db3.redisSha(sha1(script).toUpperCase())).toBe(prepared.redisSha);
    // The other database never loaded it, and its sandbox differs.
    expect(db4.redisSha(sha1(script))).toBeUndefined();
    expect(db4.prepare(script).redisSha).not.toBe(prepared.redisSha);
    db3.clear();
    expect(db3.redisSha(sha1(script))).toBeUndefined();
  });

  it('forgets the oldest scripts past its limit', () => {
    const cache = new ScriptCache(0, 2);
    const [a, b, c] = ['return 1', 'return 2', 'return 3'].map((s) => cache.prepare(s));
    expect(cache.redisSha((a as { sha: string }).sha)).toBeUndefined();
    expect(cache.redisSha((b as { sha: string }).sha)).toBeDefined();
    expect(cache.redisSha((c as { sha: string }).sha)).toBeDefined();
  });

  it("puts the client's SHA back into Redis's error text", () => {
    const cache = new ScriptCache(0);
    const prepared = cache.prepare('error("x")');
    const message = `ERR user_script:1: x script: ${prepared.redisSha}, on @user_script:1.`;
    expect(cache.errorText(message, prepared)).toBe(
      `ERR user_script:1: x script: ${prepared.sha}, on @user_script:1.`,
    );
  });
});
