import { createHash, randomBytes } from 'node:crypto';
import { Redis } from '@upstash/redis';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../../../local/redis-server';
import { planCommand } from '../../../local/upstash/commands';
import { NOT_AVAILABLE } from '../../../local/upstash/policy';
import { redisChannelName } from '../../../local/upstash/pubsub';
import { ScriptCache } from '../../../local/upstash/scripts';
import { UpstashEndpoint } from '../../../local/upstash/server';

/**
 * One token is one database: these tests run against a Redis of their own (they flush, and they
 * try every way out) that has a password, behind an endpoint serving two tokens, database 2 (A)
 * and database 5 (B).
 */
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
/** How ACL LIST shows the password: its SHA-256. */
const PASSWORD_HASH = createHash('sha256').update(PASSWORD).digest('hex');
const A = 'token-a-db2';
const B = 'token-b-db5';

let server: RedisServer;
let admin: IORedis;
let endpoint: UpstashEndpoint;
let a: Redis;
let b: Redis;

/** The outcome of one command through a client: its result, or its error text. */
async function attempt(
  client: Redis,
  args: (string | number)[],
): Promise<{ result?: unknown; error?: string }> {
  try {
    return { result: await client.exec(args.map(String) as [string, ...string[]]) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** The same command from inside a script. */
const inScript = (client: Redis, args: (string | number)[]) =>
  client.eval('return redis.call(unpack(ARGV))', [], args.map(String)).then(
    (result) => ({ result, error: undefined }),
    (error: Error) => ({ result: undefined, error: error.message }),
  );

/** Every key and its value in one database of the private Redis, read with the admin connection. */
async function snapshot(db: number): Promise<Record<string, string | null>> {
  await admin.select(db);
  const keys = (await admin.keys('*')).sort();
  const out: Record<string, string | null> = {};
  for (const key of keys)
    out[key] = (await admin.type(key)) === 'string' ? await admin.get(key) : 'non-string';
  return out;
}

beforeAll(async () => {
  server = await startRedisServer();
  admin = new IORedis(server.url);
  await admin.config('SET', 'requirepass', PASSWORD);
  await admin.auth(PASSWORD);
  const url = server.url.replace('redis://', `redis://:${PASSWORD}@`);
  endpoint = await UpstashEndpoint.start({
    databases: [
      { token: A, redisUrl: `${url}/2` },
      { token: B, redisUrl: `${url}/5` },
    ],
  });
  // Without auto-pipelining, so errors carry the endpoint's text as is (no "Command failed: ").
  const options = {
    url: endpoint.url,
    enableTelemetry: false,
    retry: false,
    enableAutoPipelining: false,
  } as const;
  a = new Redis({ ...options, token: A });
  b = new Redis({ ...options, token: B });
});

afterAll(async () => {
  await endpoint.close();
  admin.disconnect();
  await server.stop();
});

describe('one token, one database', () => {
  it('refuses every cross-database and admin command, by command and inside a script, and changes nothing', async () => {
    await a.set('mine', 'a');
    await b.set('theirs', 'b');
    const before = { 2: await snapshot(2), 5: await snapshot(5), 0: await snapshot(0) };
    const aclBefore = await admin.acl('LIST');
    const refused: (string | number)[][] = [
      ['SELECT', 5],
      ['SWAPDB', 2, 5],
      ['MOVE', 'mine', 5],
      ['MIGRATE', '127.0.0.1', server.port, 'mine', 5, 1000, 'AUTH', PASSWORD],
      ['CONFIG', 'SET', 'requirepass', 'changed'],
      ['CONFIG', 'SET', 'maxmemory', '1'],
      ['CONFIG', 'RESETSTAT'],
      ['CONFIG', 'REWRITE'],
      ['DEBUG', 'SLEEP', 0],
      ['SHUTDOWN', 'NOSAVE'],
      ['ACL', 'LIST'],
      ['ACL', 'USERS'],
      ['ACL', 'GETUSER', 'default'],
      ['ACL', 'SETUSER', 'intruder', 'on', '>x', '~*', '+@all'],
      ['ACL', 'DELUSER', 'default'],
      ['ACL', 'LOG'],
      ['ACL', 'DRYRUN', 'default', 'GET', 'x'],
      ['CLIENT', 'LIST'],
      ['CLIENT', 'KILL', 'TYPE', 'normal'],
      ['MONITOR'],
      ['SLOWLOG', 'GET'],
      ['LATENCY', 'DOCTOR'],
      ['MEMORY', 'STATS'],
      ['MODULE', 'LIST'],
      ['REPLICAOF', 'NO', 'ONE'],
      ['SAVE'],
      ['BGSAVE'],
      ['FUNCTION', 'DUMP'],
      ['SCRIPT', 'DEBUG', 'YES'],
      ['WAIT', 0, 0],
      ['PFSELFTEST'],
    ];
    for (const command of refused) {
      const direct = await attempt(a, command);
      expect(direct.error, JSON.stringify(command)).toMatch(/^ERR (Command is not available|Unknown option)/);
      const scripted = await inScript(a, command);
      // Redis itself refuses the commands it never runs from scripts (noscript); the sandbox the rest.
      expect(scripted.error, `in a script: ${JSON.stringify(command)}`).toMatch(
        new RegExp(
          `^ERR (Command is not available: '${command[0]}[' ]|This Redis command is not allowed from script)`,
        ),
      );
    }
    // COPY may name the token's only database (0) or none.
    for (const run of [attempt, inScript]) {
      expect((await run(a, ['COPY', 'mine', 'copied', 'DB', 5])).error).toMatch(
        /^ERR DB index is out of range/,
      );
    }
    expect(await a.exec(['COPY', 'mine', 'copied', 'DB', '0'])).toBe(1);
    await a.del('copied');

    expect({ 2: await snapshot(2), 5: await snapshot(5), 0: await snapshot(0) }).toEqual(before);
    expect(await admin.acl('LIST')).toEqual(aclBefore);
    expect(await admin.config('GET', 'requirepass')).toEqual(['requirepass', PASSWORD]);
    expect(await admin.config('GET', 'maxmemory')).toEqual(['maxmemory', '0']);
  });

  it('refuses each command of the not-available list inside scripts with the top level’s text', async () => {
    for (const name of NOT_AVAILABLE) {
      const top = await attempt(a, [name, 'x']);
      const scripted = await inScript(a, [name, 'x']);
      expect(top.error).toBe(`ERR Command is not available: '${name}', command was: ["${name}","x"]`);
      expect(scripted.error).toMatch(
        new RegExp(`^ERR Command is not available: '${name}' script: [0-9a-f]{40},`),
      );
    }
  });

  it('empties only its own database with FLUSHALL and FLUSHDB, by command and in a script', async () => {
    for (const flush of [
      () => a.flushall(),
      () => a.flushdb(),
      () => a.eval("return redis.call('FLUSHALL')", [], []),
      () => a.eval("return redis.pcall('flushall', 'async')", [], []),
    ]) {
      await a.mset({ k1: 1, k2: 2 });
      await b.set('kept', 'yes');
      await admin.select(0);
      await admin.set('db0-kept', 'yes');
      await flush();
      expect(await a.dbsize()).toBe(0);
      expect(await b.get('kept')).toBe('yes');
      expect(await admin.get('db0-kept')).toBe('yes');
    }
  });

  it('keeps a script inside its database whatever route it tries', async () => {
    await a.set('mine', 'a');
    await b.set('theirs', 'b');
    const before = { 2: await snapshot(2), 5: await snapshot(5), 0: await snapshot(0) };
    const escapes = [
      "return _G.redis.call('SELECT', 5)",
      "return rawget(_G, 'redis').call('SELECT', 5)",
      "return _G._G.redis.call('select', '5')",
      "local r = redis return r.call('sElEcT', 5)",
      "for k, v in pairs(_G) do if k == 'redis' then return v.call('SELECT', 5) end end return redis.call('SELECT', 5)",
      "local f = coroutine.wrap(function() return redis.call('SWAPDB', 2, 5) end) return f()",
      "local ok, e = pcall(redis.call, 'MOVE', 'mine', 5) if ok then return 'moved' end error(e)",
      'return loadstring("return redis.call(\'SELECT\', 5)")()',
      'return load(function() return nil end)()',
      "redis.call = function() return 'replaced' end",
      'setmetatable(redis, {})',
      'setmetatable(_G, {})',
      '_G.redis = {}',
      "return getmetatable(_G).__index('redis').call('SELECT', 5)",
      "return getmetatable(redis).__index.call('SELECT', 5)",
      "local t = redis.pcall('SELECT', 5) error(t.err)",
    ];
    for (const script of escapes) {
      await expect(a.eval(script, [], []), script).rejects.toThrow(/^ERR /);
    }
    expect({ 2: await snapshot(2), 5: await snapshot(5), 0: await snapshot(0) }).toEqual(before);
  });

  it('keeps a function library inside its database too', async () => {
    await a.functions.load({
      code: [
        '#!lua name=escapes',
        "redis.register_function('sel', function() return _G.redis.call('SELECT', 5) end)",
        "redis.register_function('flush', function() return redis.call('FLUSHALL') end)",
        "redis.register_function('move', function(keys) return rawget(_G, 'redis').call('MOVE', keys[1], 5) end)",
        "redis.register_function('load', function() return loadstring('return 1') end)",
        '',
      ].join('\n'),
      replace: true,
    });
    await a.set('mine', 'a');
    await b.set('theirs', 'b');
    await expect(a.functions.call('sel')).rejects.toThrow(/Command is not available: 'SELECT'/);
    await expect(a.functions.call('move', ['mine'])).rejects.toThrow(/Command is not available: 'MOVE'/);
    expect(await a.functions.call('load')).toBeNull();
    expect(await a.functions.call('flush')).toBe('OK');
    expect(await a.get('mine')).toBeNull();
    expect(await b.get('theirs')).toBe('b');
    await a.functions.delete('escapes');
  });

  it('never shows the server’s password, its hash or its users, in any reply', async () => {
    const probes: string[][] = [
      ['CONFIG', 'GET', '*'],
      ['CONFIG', 'GET', 'requirepass'],
      ['CONFIG', 'GET', 'masterauth'],
      ['ACL', 'LIST'],
      ['ACL', 'GETUSER', 'default'],
      ['ACL', 'USERS'],
      ['ACL', 'WHOAMI'],
      ['ACL', 'CAT'],
      ['INFO'],
      ['INFO', 'ALL'],
      ['INFO', 'EVERYTHING'],
      ['CLIENT', 'LIST'],
      ['CLIENT', 'INFO'],
      ['SLOWLOG', 'GET', '128'],
      ['MEMORY', 'DOCTOR'],
      ['COMMAND', 'GETKEYS', 'MIGRATE', 'h', '1', 'k', '0', '1', 'AUTH', 'p'],
      ['EVAL', "return redis.call('CONFIG', 'GET', 'requirepass')", '0'],
      ['EVAL', "return redis.pcall('ACL', 'LIST')", '0'],
      ['EVAL', "return redis.call('INFO')", '0'],
    ];
    for (const probe of probes) {
      const res = await fetch(endpoint.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${A}` },
        body: JSON.stringify(probe),
      });
      const body = await res.text();
      expect(body, probe.join(' ')).not.toContain(PASSWORD);
      expect(body, probe.join(' ')).not.toContain(PASSWORD_HASH);
      expect(body, probe.join(' ')).not.toMatch(/user default on/);
    }
    // CONFIG GET answers as Upstash does: only notify-keyspace-events, nothing else exists.
    expect(await a.exec(['CONFIG', 'GET', '*'])).toEqual(['notify-keyspace-events', expect.any(String)]);
    expect(await a.exec(['CONFIG', 'GET', 'requirepass'])).toEqual([]);
    // INFO's keyspace shows this database alone, as database 0.
    await b.set('theirs', 'b');
    await a.set('mine', 'a');
    const keyspace = (await a.exec(['INFO', 'keyspace'])) as string;
    expect(keyspace).toMatch(/^db0:keys=\d+/m);
    expect(keyspace).not.toMatch(/^db[1-9]/m);
  });

  it('keeps scripts, functions and channels per database', async () => {
    const value = `v-${randomBytes(4).toString('hex')}`;
    const script = `return '${value}'`;
    const sha = await a.scriptLoad(script);
    await expect(b.evalsha(sha, [], [])).rejects.toThrow(/^NOSCRIPT No matching script\. Please use EVAL\./);
    expect(await b.scriptExists(sha)).toEqual([0]);
    await b.scriptFlush();
    expect(await a.scriptExists(sha)).toEqual([1]);
    expect(await a.evalsha(sha, [], [])).toBe(value);
    await a.scriptFlush();
    await expect(a.evalsha(sha, [], [])).rejects.toThrow(/^NOSCRIPT/);

    const library = "#!lua name=shared_name\nredis.register_function('who', function() return 'first' end)\n";
    await a.functions.load({ code: library, replace: true });
    expect(await b.functions.list()).toEqual([]);
    await expect(b.functions.call('who')).rejects.toThrow(/Function not found/);
    await b.functions.load({ code: library.replace("'first'", "'second'") });
    await b.functions.flush();
    expect(await a.functions.call('who')).toBe('first');
    expect(await a.functions.list()).toEqual([
      { libraryName: 'shared_name', engine: 'LUA', functions: [{ name: 'who', flags: [] }] },
    ]);
    await a.functions.flush();
    expect(await a.functions.list()).toEqual([]);

    // Publishing reaches the channel of the publisher's database only.
    expect(redisChannelName(2, 'news')).not.toBe(redisChannelName(5, 'news'));
    const spy = new IORedis({ port: server.port, password: PASSWORD });
    const heard: string[] = [];
    spy.on('pmessage', (_p, channel: string) => heard.push(channel));
    await spy.psubscribe('*');
    // The spy is the one receiver (a raw Redis client, counted as Redis counts it).
    expect(await a.publish('news', 'hello')).toBe(1);
    await a.eval("return redis.call('PUBLISH', 'news', 'from a script')", [], []);
    await b.publish('news', 'hello');
    await expect.poll(() => heard.length).toBe(3);
    expect(heard).toEqual([
      redisChannelName(2, 'news'),
      redisChannelName(2, 'news'),
      redisChannelName(5, 'news'),
    ]);
    spy.disconnect();
  });

  it('decides every command Redis marks admin or dangerous, at the top level', async () => {
    // Served on purpose, each kept to the token's database (or harmless): the reason beside it.
    const served: Record<string, string> = {
      flushall: 'narrowed to FLUSHDB',
      flushdb: "the token's database",
      info: 'keyspace narrowed to the database',
      keys: "the token's database",
      lastsave: 'a timestamp',
      sort: "the token's database",
      sort_ro: "the token's database",
      restore: "the token's database",
      'config|get': 'notify-keyspace-events only',
      'config|set': 'notify-keyspace-events only',
    };
    const scope = { db: 2, scripts: new ScriptCache(2), channels: {} as never };
    const table = (await admin.call('COMMAND')) as unknown[][];
    const undecided: string[] = [];
    const visit = (entry: unknown[], parent?: string) => {
      const [name, , flags, , , , categories, , , subcommands] = entry as [
        string,
        number,
        string[],
        number,
        number,
        number,
        string[],
        unknown,
        unknown,
        unknown[][],
      ];
      if (subcommands && subcommands.length > 0 && !parent) {
        for (const sub of subcommands) visit(sub, name);
        return;
      }
      const risky = flags.includes('admin') || categories.includes('@dangerous');
      if (!risky || served[name]) return;
      const args = parent ? [parent, name.split('|')[1] as string, 'x'] : [name, 'x'];
      if (planCommand(scope, args)?.kind !== 'refuse') undecided.push(name);
    };
    for (const entry of table) visit(entry);
    expect(undecided).toEqual([]);
  });
});
