import { describe, expect, it } from 'vitest';
import { BadRequestError, parseCommandList } from '../../../local/upstash/body';
import { type ChannelScope, type Plan, planCommand } from '../../../local/upstash/commands';
import { globToRegExp } from '../../../local/upstash/glob';
import { channelPrefix, NOT_AVAILABLE, notAvailable } from '../../../local/upstash/policy';
import { clientChannelName, redisChannelName, ssePayload } from '../../../local/upstash/pubsub';
import { RespError } from '../../../local/upstash/resp';
import { libraryPreamble, restoreLibrary, rewriteLibrary } from '../../../local/upstash/sandbox';
import { ScriptCache } from '../../../local/upstash/scripts';
import { parseTarget } from '../../../local/upstash/server';

const channels: ChannelScope = {
  redisName: (name) => redisChannelName(3, name),
  clientName: (name) => clientChannelName(3, name),
  receivers: (_c, n) => n,
  subscribers: (_c, n) => n,
  patterns: () => 0,
};
const plan = (...args: string[]): Plan =>
  planCommand({ db: 3, scripts: new ScriptCache(3), channels }, args) ?? { kind: 'send', args };
const sent = (p: Plan) => (p.kind === 'send' ? p.args : p);

describe('planCommand', () => {
  it('refuses every command of the not-available list with Upstash’s text, as the client spelled it', () => {
    for (const name of NOT_AVAILABLE) {
      expect(plan(name.toLowerCase(), 'x')).toEqual({
        kind: 'refuse',
        message: notAvailable(name.toLowerCase()),
      });
    }
    expect(notAvailable('SELECT')).toBe("ERR Command is not available: 'SELECT'");
  });

  it('narrows commands that name a database to the token’s own', () => {
    expect(sent(plan('flushall', 'ASYNC'))).toEqual(['FLUSHDB', 'ASYNC']);
    expect(sent(plan('COPY', 'a', 'b', 'db', '0', 'REPLACE'))).toEqual(['COPY', 'a', 'b', 'REPLACE']);
    expect(plan('COPY', 'a', 'b', 'DB', '1')).toEqual({
      kind: 'local',
      reply: new RespError('ERR DB index is out of range'),
    });
    // Upstash answers 0 where Redis 7.0 answers an error; a syntax error stays Redis's.
    expect(plan('COPY', 'a', 'a')).toEqual({ kind: 'local', reply: 0 });
    expect(plan('COPY', 'a', 'a', 'DB', '0', 'REPLACE')).toEqual({ kind: 'local', reply: 0 });
    expect(sent(plan('COPY', 'a', 'a', 'NOPE'))).toEqual(['COPY', 'a', 'a', 'NOPE']);
  });

  it('lets CONFIG reach notify-keyspace-events alone, and refuses the rest of CONFIG', () => {
    expect(plan('CONFIG', 'GET', 'requirepass')).toEqual({ kind: 'local', reply: [] });
    expect(sent(plan('config', 'get', 'NOTIFY-*'))).toEqual(['CONFIG', 'GET', 'notify-keyspace-events']);
    expect(sent(plan('CONFIG', 'GET', '*'))).toEqual(['CONFIG', 'GET', 'notify-keyspace-events']);
    expect(plan('CONFIG', 'SET', 'requirepass', 'x')).toMatchObject({
      kind: 'local',
      reply: expect.any(RespError),
    });
    expect(plan('CONFIG', 'SET', 'notify-keyspace-events', 'KEA', 'requirepass', 'x').kind).toBe('local');
    expect(sent(plan('CONFIG', 'SET', 'notify-keyspace-events', 'KEA'))).toEqual([
      'CONFIG',
      'SET',
      'notify-keyspace-events',
      'KEA',
    ]);
    expect(plan('CONFIG', 'RESETSTAT')).toEqual({
      kind: 'refuse',
      message: notAvailable('CONFIG RESETSTAT'),
    });
  });

  it('serves the harmless parts of ACL and MEMORY only', () => {
    expect(plan('ACL', 'LIST')).toEqual({ kind: 'refuse', message: notAvailable('ACL LIST') });
    expect(plan('ACL', 'GETUSER', 'default').kind).toBe('refuse');
    expect(sent(plan('ACL', 'WHOAMI'))).toEqual(['ACL', 'WHOAMI']);
    expect(plan('MEMORY', 'STATS')).toEqual({ kind: 'refuse', message: notAvailable('MEMORY STATS') });
    expect(sent(plan('MEMORY', 'USAGE', 'k'))).toEqual(['MEMORY', 'USAGE', 'k']);
  });

  it('refuses blocking stream reads only when they block', () => {
    expect(plan('XREAD', 'BLOCK', '0', 'STREAMS', 's', '$').kind).toBe('refuse');
    expect(sent(plan('XREAD', 'STREAMS', 's', '0'))).toEqual(['XREAD', 'STREAMS', 's', '0']);
  });

  it('answers EVALSHA of a script the database never loaded with NOSCRIPT, without Redis', () => {
    expect(plan('EVALSHA', 'a'.repeat(40), '0')).toEqual({
      kind: 'local',
      reply: new RespError('NOSCRIPT No matching script. Please use EVAL.'),
    });
  });

  it('scopes channels, functions and libraries to the database', () => {
    expect(sent(plan('PUBLISH', 'news', 'm'))).toEqual(['PUBLISH', `${channelPrefix(3)}news`, 'm']);
    expect(sent(plan('FCALL', 'f', '0'))).toEqual(['FCALL', 'u3_f', '0']);
    expect(sent(plan('FCALL_RO', 'f', '0'))).toEqual(['FCALL_RO', 'u3ro_f', '0']);
    expect(sent(plan('FUNCTION', 'DELETE', 'lib'))).toEqual(['FUNCTION', 'DELETE', 'u3_lib']);
    expect(sent(plan('FUNCTION', 'LIST', 'LIBRARYNAME', 'my*'))).toEqual([
      'FUNCTION',
      'LIST',
      'LIBRARYNAME',
      'u3_my*',
    ]);
    expect(plan('FUNCTION', 'DUMP').kind).toBe('refuse');
  });

  it('runs SCAN ... WITHTYPE as one script, keeping the other options', () => {
    const args = sent(plan('scan', '0', 'MATCH', 'withtype', 'COUNT', '5', 'withtype')) as string[];
    expect(args[0]).toBe('EVAL');
    expect(args.slice(2)).toEqual(['0', '0', 'MATCH', 'withtype', 'COUNT', '5']);
    expect(sent(plan('SCAN', '0', 'MATCH', 'withtype'))).toEqual(['SCAN', '0', 'MATCH', 'withtype']);
  });
});

describe('function libraries', () => {
  const code = '#!lua name=mylib\nredis.register_function("f", function() return 1 end)';

  it('get the database prefix and the sandbox after the shebang line, and come back as loaded', () => {
    const rewritten = rewriteLibrary(code, 3);
    expect(rewritten?.name).toBe('mylib');
    expect(rewritten?.code.startsWith(`#!lua name=u3_mylib\n${libraryPreamble(3)}redis.register`)).toBe(true);
    expect(rewritten?.code.split('\n')).toHaveLength(2);
    expect(restoreLibrary(rewritten?.code as string, 3)).toBe(code);
    expect(rewriteLibrary('return 1', 3)).toBeUndefined();
  });
});

describe('globToRegExp', () => {
  it('follows Redis glob rules', () => {
    const m = (p: string, s: string, nocase = false) => globToRegExp(p, nocase).test(s);
    expect(m('news.*', 'news.sport')).toBe(true);
    expect(m('news.*', 'newsXsport')).toBe(false);
    expect(m('h?llo', 'hello')).toBe(true);
    expect(m('h[ae]llo', 'hallo')).toBe(true);
    expect(m('h[^e]llo', 'hello')).toBe(false);
    expect(m('h[a-b]llo', 'hbllo')).toBe(true);
    expect(m('h[b-a]llo', 'hallo')).toBe(true);
    expect(m('h\\*llo', 'h*llo')).toBe(true);
    expect(m('h\\*llo', 'hello')).toBe(false);
    expect(m('a[', 'a[')).toBe(true);
    expect(m('user:(x)', 'user:(x)')).toBe(true);
    expect(m('NOTIFY-*', 'notify-keyspace-events', true)).toBe(true);
  });
});

describe('parseCommandList', () => {
  it('parses a body over the sliced-parse size into the same commands as JSON.parse would', async () => {
    const commands = Array.from({ length: 60_000 }, (_, i) => ['SET', `k,${i}]`, `v"\\[${i}é`]);
    const body = Buffer.from(JSON.stringify(commands));
    expect(body.length).toBeGreaterThan(1024 * 1024);
    expect(await parseCommandList(body)).toEqual(commands);
  });

  it('rejects malformed or trailing JSON in a large body as a whole', async () => {
    const big = JSON.stringify(Array.from({ length: 80_000 }, (_, i) => ['INCR', `k${i}`]));
    expect(big.length).toBeGreaterThan(1024 * 1024);
    for (const body of [
      `${big.slice(0, -1)},]`,
      `${big} x`,
      big.slice(0, -1),
      `${big.slice(0, -1)},[{"a":1}]]`,
    ]) {
      await expect(parseCommandList(Buffer.from(body))).rejects.toBeInstanceOf(BadRequestError);
    }
  });

  it('turns numbers and booleans into their String() form and refuses null', async () => {
    expect(await parseCommandList(Buffer.from('[["SET","k",1e21,true]]'))).toEqual([
      ['SET', 'k', '1e+21', 'true'],
    ]);
    await expect(parseCommandList(Buffer.from('[["SET","k",null]]'))).rejects.toBeInstanceOf(BadRequestError);
    await expect(parseCommandList(Buffer.from('[]'))).rejects.toBeInstanceOf(BadRequestError);
  });
});

describe('parseTarget', () => {
  it('accepts plain paths and refuses what is not one', () => {
    expect(parseTarget('/pipeline?_token=t')).toEqual({ path: '/pipeline', query: '_token=t' });
    expect(parseTarget('/psubscribe/user:[0-9]*')).toEqual({ path: '/psubscribe/user:[0-9]*', query: '' });
    for (const bad of ['//[', '//host/x', '*', 'http://x/', '/a b', '/a\u0001', '']) {
      expect(parseTarget(bad)).toBeUndefined();
    }
  });
});

describe('pub/sub names and lines', () => {
  it('maps a database’s channels and keyspace notifications both ways', () => {
    expect(redisChannelName(3, 'news')).toBe('__upstash_db3__:news');
    expect(redisChannelName(3, '__keyspace@0__:k')).toBe('__keyspace@3__:k');
    expect(redisChannelName(3, '__keyevent@0__:*')).toBe('__keyevent@3__:*');
    expect(clientChannelName(3, '__upstash_db3__:news')).toBe('news');
    expect(clientChannelName(3, '__keyspace@3__:k')).toBe('__keyspace@0__:k');
    expect(clientChannelName(3, '__upstash_db31__:news')).toBeUndefined();
    expect(clientChannelName(3, '__keyspace@31__:k')).toBeUndefined();
  });

  it('keeps every payload on one SSE line, and JSON.parse gives the value back', () => {
    expect(ssePayload('plain, with commas')).toBe('plain, with commas');
    expect(JSON.parse(ssePayload('two\nlines\r\n'))).toBe('two\nlines\r\n');
    expect(JSON.parse(ssePayload('{\n "a": 1\n}'))).toEqual({ a: 1 });
    expect(ssePayload('{\n "a": 1\n}')).not.toMatch(/[\r\n]/);
  });
});
