import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Ratelimit } from '@upstash/ratelimit';
import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startRedisServer } from '../../../local/redis-server';
import { UpstashEndpoint } from '../../../local/upstash/server';
import { ownDatabase, randomPrefix, sharedEndpoint } from '../../helpers/redis';

const { url, token } = sharedEndpoint();

/** The client as most users build it: defaults, so auto-pipelining and base64 responses are on. */
const redis = new Redis({ url, token, enableTelemetry: false });

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as unknown };
}

describe('UpstashEndpoint', () => {
  describe('values through @upstash/redis', () => {
    it('round-trips strings, numbers, booleans, unicode and JSON values', async () => {
      const p = randomPrefix();
      const values = {
        text: 'hello world',
        number: 42,
        float: 1.5,
        negative: -7,
        bool: true,
        unicode: 'héllo ✓ 日本語 🚀',
        json: { nested: { list: [1, 'two', null, false] }, emoji: '🙂' },
        list: [1, 2, 3],
      };
      for (const [k, v] of Object.entries(values)) await redis.set(`${p}:${k}`, v);
      for (const [k, v] of Object.entries(values)) expect(await redis.get(`${p}:${k}`)).toEqual(v);
    });

    it('stores booleans and numbers sent as JSON arguments the way String(x) writes them', async () => {
      const p = randomPrefix();
      await redis.hset(`${p}:h`, { yes: true, no: false, big: 1e21, half: 0.5 });
      const raw = await post('/', ['HGETALL', `${p}:h`]);
      expect(raw.json).toEqual({ result: ['yes', 'true', 'no', 'false', 'big', '1e+21', 'half', '0.5'] });
      // The SDK's hgetall.test.ts stores false and expects false back after its JSON parsing.
      expect(await redis.hgetall(`${p}:h`)).toMatchObject({ yes: true, no: false });
    });

    it('keeps 64-bit integers exact and sends doubles as strings', async () => {
      const p = randomPrefix();
      const big = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify(['INCRBY', `${p}:big`, '9223372036854775806']),
      });
      expect(await big.text()).toBe('{"result":9223372036854775806}');
      await post('/', ['ZADD', `${p}:z`, 2.5, 'm']);
      const score = await post('/', ['ZSCORE', `${p}:z`, 'm']);
      expect(score.json).toEqual({ result: '2.5' });
      // JSON.parse loses the digits; the wire text must not.
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify(['GET', `${p}:big`]),
      });
      expect(await res.text()).toBe('{"result":"9223372036854775806"}');
    });

    it('always carries the result key, also for null', async () => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify(['GET', `${randomPrefix()}:missing`]),
      });
      expect(await res.text()).toBe('{"result":null}');
      expect(await redis.get(`${randomPrefix()}:missing`)).toBeNull();
    });
  });

  describe('Upstash-Encoding: base64', () => {
    it('encodes every string at every depth, OK and QUEUED-like status replies included', async () => {
      const p = randomPrefix();
      const res = await post(
        '/pipeline',
        [
          ['SET', `${p}:a`, 'é'],
          ['PING'],
          ['GET', `${p}:a`],
          ['INCR', `${p}:n`],
          ['GET', `${p}:none`],
          ['TYPE', `${p}:a`],
        ],
        { 'upstash-encoding': 'base64' },
      );
      const b64 = (s: string) => Buffer.from(s).toString('base64');
      expect(res.json).toEqual([
        { result: b64('OK') },
        { result: b64('PONG') },
        { result: b64('é') },
        { result: 1 },
        { result: null },
        { result: b64('string') },
      ]);
    });

    it('encodes nested arrays and leaves integers and null alone', async () => {
      const p = randomPrefix();
      await post('/', ['RPUSH', `${p}:l`, 'a', 'b']);
      const res = await post('/', ['EVAL', 'return {1, "x", {2, "y"}, false}', 0], {
        'upstash-encoding': 'base64',
      });
      expect(res.json).toEqual({ result: [1, 'eA==', [2, 'eQ=='], null] });
    });

    it('never encodes errors', async () => {
      const res = await post('/', ['INCR'], { 'upstash-encoding': 'base64' });
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ error: "ERR wrong number of arguments for 'incr' command" });
    });

    it('lets the SDK read OK inside pipeline and multi-exec results', async () => {
      const p = randomPrefix();
      const pipe = redis.pipeline();
      pipe.set(`${p}:a`, 'OK');
      pipe.get(`${p}:a`);
      pipe.ping();
      expect(await pipe.exec()).toEqual(['OK', 'OK', 'PONG']);
      const multi = redis.multi();
      multi.set(`${p}:b`, 'v');
      multi.get(`${p}:b`);
      expect(await multi.exec()).toEqual(['OK', 'v']);
    });
  });

  describe('POST /pipeline and /multi-exec', () => {
    it('answers a pipeline with one item per command, in order, an error in its own slot', async () => {
      const p = randomPrefix();
      const res = await post('/pipeline', [
        ['SET', `${p}:s`, 'text'],
        ['INCR', `${p}:s`],
        ['GET', `${p}:s`],
      ]);
      expect(res.status).toBe(200);
      expect(res.json).toEqual([
        { result: 'OK' },
        { error: 'ERR value is not an integer or out of range' },
        { result: 'text' },
      ]);
      const pipe = redis.pipeline();
      pipe.set(`${p}:t`, 'x');
      pipe.incr(`${p}:t`);
      const items = await pipe.exec({ keepErrors: true });
      expect(items[0]).toMatchObject({ result: 'OK' });
      expect(items[1]).toMatchObject({ error: 'ERR value is not an integer or out of range' });
    });

    it('keeps a runtime error inside a transaction in its slot while the rest applies', async () => {
      const p = randomPrefix();
      const res = await post('/multi-exec', [
        ['SET', `${p}:s`, 'text'],
        ['INCR', `${p}:s`],
        ['SET', `${p}:after`, '1'],
      ]);
      expect(res.status).toBe(200);
      expect(res.json).toEqual([
        { result: 'OK' },
        { error: 'ERR value is not an integer or out of range' },
        { result: 'OK' },
      ]);
      expect(await redis.get(`${p}:after`)).toBe(1);
    });

    it('discards a transaction with a queue-time error as a whole, with a non-2xx JSON error', async () => {
      const p = randomPrefix();
      const res = await post('/multi-exec', [['SET', `${p}:a`, '1'], ['NOSUCHCOMMAND']]);
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ error: expect.stringMatching(/^EXECABORT/) });
      expect(await redis.exists(`${p}:a`)).toBe(0);
    });

    it('runs concurrent transactions without interference', async () => {
      const p = randomPrefix();
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => {
          const m = redis.multi();
          m.incr(`${p}:n`);
          m.set(`${p}:owner`, i);
          m.get(`${p}:owner`);
          return m.exec();
        }),
      );
      // Inside each transaction, the GET sees that transaction's own SET: nothing interleaved.
      results.forEach((r, i) => {
        expect(r[2]).toBe(i);
      });
      expect(new Set(results.map((r) => r[0])).size).toBe(200);
      expect(await redis.get(`${p}:n`)).toBe(200);
    });

    it('rejects an empty pipeline and a pipeline item that is not an array', async () => {
      for (const body of [[], [['PING'], 'PING']]) {
        const res = await post('/pipeline', body);
        expect(res.status).toBe(400);
        expect(res.json).toMatchObject({ error: expect.stringMatching(/^ERR /) });
      }
    });
  });

  describe('scripts', () => {
    it('answers EVALSHA of an unknown script with the exact NOSCRIPT text', async () => {
      for (const sha of ['0000000000000000000000000000000000000000', 'wrong-sha1']) {
        const res = await post('/', ['EVALSHA', sha, 0]);
        expect(res.status).toBe(400);
        expect(res.json).toEqual({ error: 'NOSCRIPT No matching script. Please use EVAL.' });
      }
    });

    it('accepts Upstash shebang flags and keeps the SHA the client computed', async () => {
      const script = '#!lua flags=allow-key-locking\nreturn redis.call("INCR", KEYS[1])';
      const sha = createHash('sha1').update(script).digest('hex');
      const key = `${randomPrefix()}:n`;
      expect((await post('/', ['EVAL', script, 1, key])).json).toEqual({ result: 1 });
      expect((await post('/', ['EVALSHA', sha, 1, key])).json).toEqual({ result: 2 });
      expect((await post('/', ['SCRIPT', 'EXISTS', sha])).json).toEqual({ result: [1] });

      const loaded = '#!lua flags=allow-key-locking,no-writes\nreturn ARGV[1]';
      const loadedSha = createHash('sha1').update(loaded).digest('hex');
      expect((await post('/', ['SCRIPT', 'LOAD', loaded])).json).toEqual({ result: loadedSha });
      expect((await post('/', ['EVALSHA', loadedSha, 0, 'hi'])).json).toEqual({ result: 'hi' });
    });

    it('runs @upstash/ratelimit unchanged, before and after SCRIPT FLUSH', async () => {
      // SCRIPT FLUSH empties the script cache of the whole server: on the shared Redis it would
      // cost every other test's next EVALSHA a NOSCRIPT round trip (and fail those that count).
      const own = await ownDatabase();
      const ownRedis = new Redis({ url: own.url, token: own.token, enableTelemetry: false });
      try {
        const p = randomPrefix();
        for (const limiter of [
          Ratelimit.fixedWindow(3, '1 h'),
          Ratelimit.slidingWindow(3, '1 h'),
          Ratelimit.tokenBucket(3, '1 h', 3),
        ]) {
          const ratelimit = new Ratelimit({ redis: ownRedis, limiter, prefix: `${p}:${randomPrefix()}` });
          const first = await Promise.all([1, 2, 3, 4].map(() => ratelimit.limit('user')));
          expect(first.map((r) => r.success).sort()).toEqual([false, true, true, true]);
          await ownRedis.scriptFlush();
          const after = await ratelimit.limit('other-user');
          expect(after.success).toBe(true);
          expect(after.remaining).toBe(2);
        }
      } finally {
        await own.close();
      }
    });
  });

  describe('errors', () => {
    it('answers a Redis error with 400 and the Redis text verbatim', async () => {
      const res = await post('/', ['GET']);
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ error: "ERR wrong number of arguments for 'get' command" });
      await expect(
        redis
          .hget(`${randomPrefix()}:x`, 'f')
          .then(() => redis.incr(''))
          .catch((e) => e),
      ).resolves.toBeDefined();
    });

    it('refuses a missing or wrong token with 401 JSON on every path', async () => {
      for (const path of ['/', '/pipeline', '/multi-exec', '/nowhere']) {
        for (const auth of [undefined, 'Bearer wrong', 'Basic abc', `Bearer ${token}x`]) {
          const res = await fetch(url + path, {
            method: 'POST',
            headers: auth ? { authorization: auth } : {},
            body: JSON.stringify(['PING']),
          });
          expect(res.status).toBe(401);
          expect(await res.json()).toEqual({ error: expect.stringContaining('WRONGPASS') });
        }
      }
      const wrong = new Redis({ url, token: 'wrong', enableTelemetry: false, retry: false });
      await expect(wrong.get('x')).rejects.toThrow(/WRONGPASS/);
    });

    it('answers malformed JSON, bad arguments, unknown paths and wrong methods with JSON errors', async () => {
      expect(await post('/', '{not json')).toMatchObject({
        status: 400,
        json: { error: expect.stringMatching(/JSON/) },
      });
      expect(await post('/', { cmd: 'GET' })).toMatchObject({ status: 400 });
      expect(await post('/', [])).toMatchObject({ status: 400 });
      expect(await post('/', ['SET', 'k', { nested: true }])).toMatchObject({ status: 400 });
      expect(await post('/', ['SET', 'k', null])).toMatchObject({ status: 400 });
      expect(await post('/unknown/path', ['PING'])).toMatchObject({
        status: 404,
        json: { error: expect.any(String) },
      });
      const get = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      expect(get.status).toBe(405);
      expect(await get.json()).toEqual({ error: expect.any(String) });
    });

    it('answers a body over 10 MB with 413 JSON and writes nothing', async () => {
      const key = `${randomPrefix()}:huge`;
      const res = await post('/', ['SET', key, 'x'.repeat(10 * 1024 * 1024 + 1)]);
      expect(res.status).toBe(413);
      expect(res.json).toEqual({ error: expect.stringContaining('max request size exceeded') });
      expect(await redis.exists(key)).toBe(0);
    });

    it('refuses commands that would block or change the shared connection', async () => {
      for (const command of [
        ['BLPOP', 'k', 0],
        ['SELECT', 1],
        ['SUBSCRIBE', 'c'],
        ['MULTI'],
        ['XREAD', 'BLOCK', 0, 'STREAMS', 's', '$'],
      ]) {
        const res = await post('/', command);
        expect(res.status).toBe(400);
        expect(res.json).toEqual({ error: expect.stringMatching(/^ERR Command is not available/) });
      }
      expect((await post('/', ['PING'])).json).toEqual({ result: 'PONG' });
    });

    it('answers a malformed request target with 400 JSON', async () => {
      const { request } = await import('node:http');
      const { hostname, port } = new URL(url);
      for (const target of ['//[', '//evil.example/pipeline', '*']) {
        const res = await new Promise<{ status?: number; body: string }>((resolve, reject) => {
          const req = request(
            { hostname, port, path: target, method: 'POST', headers: { authorization: `Bearer ${token}` } },
            (r) => {
              let body = '';
              r.on('data', (d: Buffer) => {
                body += d.toString();
              });
              r.on('end', () => resolve({ status: r.statusCode, body }));
            },
          );
          req.on('error', reject);
          req.end('["PING"]');
        });
        expect(res.status, target).toBe(400);
        expect(JSON.parse(res.body)).toEqual({ error: 'ERR malformed request target' });
      }
    });
  });

  describe("Upstash's extensions and deviations, as the client reads them", () => {
    it('lists keys with their types for SCAN ... WITHTYPE', async () => {
      const p = randomPrefix();
      await redis.set(`${p}:s`, 'v');
      await redis.hset(`${p}:h`, { f: 1 });
      await redis.rpush(`${p}:l`, 'a');
      await redis.sadd(`${p}:set`, 'a');
      await redis.zadd(`${p}:z`, { score: 1, member: 'a' });
      await redis.xadd(`${p}:x`, '*', { f: 'v' });
      const found: Array<{ key: string; type: string }> = [];
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, { match: `${p}:*`, count: 1000, withType: true });
        found.push(...keys);
        cursor = String(next);
      } while (cursor !== '0');
      expect(found.sort((x, y) => x.key.localeCompare(y.key))).toEqual([
        { key: `${p}:h`, type: 'hash' },
        { key: `${p}:l`, type: 'list' },
        { key: `${p}:s`, type: 'string' },
        { key: `${p}:set`, type: 'set' },
        { key: `${p}:x`, type: 'stream' },
        { key: `${p}:z`, type: 'zset' },
      ]);
      // With TYPE as well, and in the raw reply shape: [cursor, [key, type, ...]].
      const raw = await post('/', [
        'SCAN',
        '0',
        'MATCH',
        `${p}:*`,
        'COUNT',
        1000,
        'TYPE',
        'hash',
        'WITHTYPE',
      ]);
      expect(raw.json).toEqual({ result: [expect.any(String), expect.any(Array)] });
      const pairs = (raw.json as { result: [string, string[]] }).result[1];
      expect(pairs.filter((_, i) => i % 2 === 1).every((t) => t === 'hash')).toBe(true);
    });

    it('answers COPY of a key onto itself with 0, as Upstash does', async () => {
      const p = randomPrefix();
      await redis.set(`${p}:k`, 'v');
      expect(await redis.copy(`${p}:k`, `${p}:k`)).toBe('NOT_COPIED');
      expect(await redis.copy(`${p}:k`, `${p}:copy`)).toBe('COPIED');
      expect(await redis.get(`${p}:copy`)).toBe('v');
    });

    it('runs FCALL_RO on a function that only reads, without the no-writes flag, and refuses a write there', async () => {
      const p = randomPrefix();
      const lib = `lib_${p}`;
      await redis.functions.load({
        code: [
          `#!lua name=${lib}`,
          "redis.register_function('plain_get', function(keys) return redis.call('GET', keys[1]) end)",
          "redis.register_function('set_value', function(keys, args) return redis.call('SET', keys[1], args[1]) end)",
          "redis.register_function{function_name='ro_get', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}",
          '',
        ].join('\n'),
        replace: true,
      });
      try {
        expect(await redis.functions.call('set_value', [`${p}:k`], ['v'])).toBe('OK');
        expect(await redis.functions.callRo('plain_get', [`${p}:k`])).toBe('v');
        expect(await redis.functions.callRo('ro_get', [`${p}:k`])).toBe('v');
        await expect(redis.functions.callRo('set_value', [`${p}:k`], ['w'])).rejects.toThrow(
          /commands are not allowed from read-only/,
        );
        expect(await redis.get(`${p}:k`)).toBe('v');
        const [listed] = await redis.functions.list({ libraryName: lib, withCode: true });
        expect(listed?.libraryName).toBe(lib);
        expect(
          listed?.libraryCode?.startsWith(`#!lua name=${lib}\nredis.register_function('plain_get'`),
        ).toBe(true);
        expect(listed?.functions.sort((x, y) => x.name.localeCompare(y.name))).toEqual([
          { name: 'plain_get', flags: [] },
          { name: 'ro_get', flags: ['no-writes'] },
          { name: 'set_value', flags: [] },
        ]);
        const stats = await redis.functions.stats();
        expect(stats.engines.LUA?.librariesCount).toBeGreaterThanOrEqual(1);
      } finally {
        await redis.functions.delete(lib);
      }
    });
  });

  describe('headers and concurrency', () => {
    it('sends an upstash-sync-token that changes on every successful response', async () => {
      const tokens = new Set<string | null>();
      for (let i = 0; i < 5; i += 1)
        tokens.add((await post('/', ['PING'])).headers.get('upstash-sync-token'));
      expect(tokens.size).toBe(5);
      expect(tokens.has(null)).toBe(false);
    });

    it('counts 1,000 concurrent INCRs exactly, over separate HTTP requests', async () => {
      const key = `${randomPrefix()}:counter`;
      const direct = new Redis({ url, token, enableTelemetry: false, enableAutoPipelining: false });
      const replies = await Promise.all(Array.from({ length: 1000 }, () => direct.incr(key)));
      expect(new Set(replies).size).toBe(1000);
      expect(await direct.get(key)).toBe(1000);
    });
  });

  describe('several databases', () => {
    it('maps each token to its own keyspace', async () => {
      const cache = sharedEndpoint('cache');
      const cacheRedis = new Redis({ url: cache.url, token: cache.token, enableTelemetry: false });
      const key = `${randomPrefix()}:k`;
      await redis.set(key, 'state');
      await cacheRedis.set(key, 'cache');
      expect(await redis.get(key)).toBe('state');
      expect(await cacheRedis.get(key)).toBe('cache');
    });
  });

  describe('when Redis goes away', () => {
    let server: Awaited<ReturnType<typeof startRedisServer>>;
    let endpoint: UpstashEndpoint;

    beforeAll(async () => {
      server = await startRedisServer();
      endpoint = await UpstashEndpoint.start({ databases: [{ token: 't', redisUrl: server.url }] });
    });
    afterAll(async () => {
      await endpoint.close();
      await server.stop();
    });

    it('answers 503 JSON while Redis is down and recovers when it is back', async () => {
      const client = new Redis({ url: endpoint.url, token: 't', enableTelemetry: false, retry: false });
      await client.set('k', 'v');
      await server.stop();
      const down = await fetch(endpoint.url, {
        method: 'POST',
        headers: { authorization: 'Bearer t' },
        body: JSON.stringify(['GET', 'k']),
      });
      expect(down.status).toBe(503);
      expect(await down.json()).toEqual({ error: expect.stringMatching(/^ERR Redis is unavailable/) });
      await expect(client.get('k')).rejects.toThrow(/Redis is unavailable/);

      server = await startRedisServer({ port: server.port });
      await expect
        .poll(() => client.ping().catch(() => 'down'), { timeout: 5000, interval: 100 })
        .toBe('PONG');
    });
  });

  describe('CLI', () => {
    /** Runs the CLI in one process (node with tsx's loader), so a SIGTERM reaches it. */
    const cli = (args: string[]) =>
      spawn(process.execPath, ['--import', 'tsx', 'local/upstash-cli.ts', ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });

    it('prints its URL once ready, then serves each token its own database', async () => {
      const base = inject('redisUrl').replace(/\/\d*$/, '');
      const child = cli([
        '--port',
        '0', // a free one: a port picked at random may be taken on a shared machine
        '--database',
        `cli-a=${base}/0`,
        '--database',
        `cli-b=${base}/1`,
      ]);
      try {
        const lines = await new Promise<string[]>((resolve, reject) => {
          let out = '';
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            const all = out.split('\n');
            if (all.length > 2) resolve(all);
          });
          child.once('exit', (code) => reject(new Error(`CLI exited with ${code}: ${out}`)));
        });
        const url = /http:\/\/127\.0\.0\.1:(\d+)/.exec(lines[0] ?? '')?.[0] as string;
        expect(Number(new URL(url).port)).toBeGreaterThan(0);
        expect(lines[1]).toBe(
          '2 databases (Redis database 0, 1); pub/sub on /subscribe/<channel> and /psubscribe/<pattern>',
        );
        const a = new Redis({ url, token: 'cli-a', enableTelemetry: false });
        const b = new Redis({ url, token: 'cli-b', enableTelemetry: false });
        const key = `${randomPrefix()}:cli`;
        await a.set(key, 'a');
        expect(await b.get(key)).toBeNull();
        expect(await a.get(key)).toBe('a');
      } finally {
        child.kill('SIGTERM');
        await new Promise((resolve) =>
          child.exitCode !== null ? resolve(null) : child.once('exit', resolve),
        );
      }
    });

    it('exits 1 with the reason when Redis cannot be reached, and 2 on bad arguments', async () => {
      const run = async (args: string[]) => {
        const child = cli(args);
        let err = '';
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
        });
        const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
        return { code, err };
      };
      const unreachable = await run(['--port', '0', '--token', 't', '--redis-url', 'redis://127.0.0.1:1']);
      // One line each, with what to do (test/integration/local/cli-errors.test.ts pins every text).
      expect(unreachable).toEqual({
        code: 1,
        err: 'upstash-local: cannot reach Redis (connect ECONNREFUSED 127.0.0.1:1); start one (redis-server) or point --redis-url at a Redis you can reach\n',
      });
      expect(await run(['--database', 'no-equals-sign'])).toEqual({
        code: 2,
        err: 'upstash-local: --database wants <token>=<redis-url>, got one without "="\n',
      });
    });
  });
});
