import { describe, expect, it } from 'vitest';
import { replyToJson, resultBody } from '../../../local/upstash/reply';
import { ScriptTranslator, sha1 } from '../../../local/upstash/scripts';

describe('replyToJson', () => {
  it('writes integer replies digit for digit', () => {
    expect(replyToJson('-9223372036854775808', false)).toBe('-9223372036854775808');
  });

  it('writes bulk strings as text, or base64 of their exact bytes', () => {
    const bytes = Buffer.from([0xff, 0x00, 0x41]);
    expect(replyToJson(bytes, true)).toBe(JSON.stringify(bytes.toString('base64')));
    expect(replyToJson(Buffer.from('é'), false)).toBe('"é"');
  });

  it('keeps the result key for null', () => {
    expect(resultBody(null, true)).toBe('{"result":null}');
  });

  it('recurses into nested arrays', () => {
    expect(replyToJson([Buffer.from('OK'), '3', [null, Buffer.from('a')]], true)).toBe(
      '["T0s=",3,[null,"YQ=="]]',
    );
  });
});

describe('ScriptTranslator', () => {
  it('strips flags Redis 7.0 does not know and keeps the ones it does', () => {
    const t = new ScriptTranslator();
    expect(t.rewrite('#!lua flags=allow-key-locking,no-writes\nreturn 1')).toBe(
      '#!lua flags=no-writes\nreturn 1',
    );
    expect(t.rewrite('#!lua flags=allow-key-locking\nreturn 1')).toBe('#!lua\nreturn 1');
    expect(t.rewrite('return 1')).toBe('return 1');
  });

  it('maps the client SHA to the SHA Redis knows, until SCRIPT FLUSH', () => {
    const t = new ScriptTranslator();
    const original = '#!lua flags=allow-key-locking\nreturn 1';
    t.translate(['EVAL', original, '0']);
    expect(t.translate(['EVALSHA', sha1(original), '0']).args[1]).toBe(sha1('#!lua\nreturn 1'));
    t.translate(['SCRIPT', 'FLUSH']);
    expect(t.translate(['EVALSHA', sha1(original), '0']).args[1]).toBe(sha1(original));
  });

  it('answers SCRIPT LOAD with the SHA of the text the client sent', () => {
    const t = new ScriptTranslator();
    const original = '#!lua flags=allow-key-locking\nreturn 2';
    expect(t.translate(['SCRIPT', 'LOAD', original])).toEqual({
      args: ['SCRIPT', 'LOAD', '#!lua\nreturn 2'],
      loadedSha: sha1(original),
    });
  });
});
