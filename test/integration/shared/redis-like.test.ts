import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ManagedRedisClient } from '../../../lambda/shared/client';
import type { Credentials } from '../../../lambda/shared/credentials';
import type { RedisLike } from '../../../lambda/shared/redis';
import { serverKindOf, TcpRedisClient } from '../../../lambda/shared/redis-tcp';
import { defineScript, runScript } from '../../../lambda/shared/scripts';
import { ownDatabase, randomPrefix, sharedEndpoint } from '../../helpers/redis';

type Connect = () => Promise<RedisLike & { close(): Promise<void> }>;

const managed = (name: string, credentials: Credentials) =>
  ManagedRedisClient.create(
    { name, mode: credentials.mode },
    { load: async () => credentials, refresh: async () => credentials },
  );

// Both transports reach the same Redis (db 0), so one suite checks they behave identically.
const transports: Array<[string, 'upstash' | 'redis', Connect]> = [
  ['REST (@upstash/redis)', 'upstash', () => managed('rest', { mode: 'rest', ...sharedEndpoint('state') })],
  ['TCP (ioredis)', 'redis', () => managed('tcp', { mode: 'tcp', url: inject('redisUrl') })],
];

describe.each(transports)('RedisLike over %s', (_name, kind, connect) => {
  let redis: RedisLike & { close(): Promise<void> };
  const prefix = randomPrefix();
  // Every key a test names, so cleaning up walks no other test's keys.
  const written = new Set<string>();
  const k = (id: string) => {
    const key = `${prefix}:${id}`;
    written.add(key);
    return key;
  };

  beforeAll(async () => {
    redis = await connect();
  });
  afterAll(async () => {
    if (written.size > 0) await redis.unlink([...written]);
    await redis.close();
  });

  it(`reports kind "${kind}"`, () => {
    expect(redis.kind).toBe(kind);
  });

  it('gets what it set, byte for byte, and null on a miss', async () => {
    const value = '{"json":"stays a string"} ünïcødé 🚀 \u0000 end';

    expect(await redis.set(k('a'), value)).toBe(true);

    expect(await redis.get(k('a'))).toBe(value);
    expect(await redis.get(k('missing'))).toBeNull();
  });

  it('keeps numeric-looking strings as strings', async () => {
    await redis.set(k('n'), '007');

    expect(await redis.get(k('n'))).toBe('007');
  });

  it('sets a TTL in ms with px and reports it with pttl', async () => {
    await redis.set(k('ttl'), 'v', { px: 60_000 });
    await redis.set(k('forever'), 'v');

    const ttl = await redis.pttl(k('ttl'));
    expect(ttl).toBeGreaterThan(59_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    expect(await redis.pttl(k('forever'))).toBe(-1);
    expect(await redis.pttl(k('missing'))).toBe(-2);
  });

  it('honours nx and xx', async () => {
    expect(await redis.set(k('nx'), '1', { nx: true })).toBe(true);
    expect(await redis.set(k('nx'), '2', { nx: true })).toBe(false);
    expect(await redis.set(k('xx-missing'), '1', { xx: true })).toBe(false);
    expect(await redis.set(k('nx'), '3', { xx: true, px: 10_000 })).toBe(true);

    expect(await redis.get(k('nx'))).toBe('3');
    expect(await redis.get(k('xx-missing'))).toBeNull();
    expect(await redis.pttl(k('nx'))).toBeGreaterThan(0);
  });

  it('reads several keys with mget, null for the missing ones', async () => {
    await redis.set(k('m1'), 'one');
    await redis.set(k('m2'), 'two');

    expect(await redis.mget([k('m1'), k('missing'), k('m2')])).toEqual(['one', null, 'two']);
  });

  it('counts with exists and removes with del and unlink', async () => {
    await Promise.all(['d1', 'd2', 'd3', 'd4'].map((id) => redis.set(k(id), 'x')));

    expect(await redis.exists([k('d1'), k('d2'), k('missing')])).toBe(2);
    expect(await redis.del([k('d1'), k('d2'), k('missing')])).toBe(2);
    expect(await redis.unlink([k('d3'), k('d4')])).toBe(2);
    expect(await redis.exists([k('d1'), k('d3')])).toBe(0);
  });

  it('walks matching keys with scan until the cursor returns to 0', async () => {
    // SCAN walks the whole database whatever its MATCH: on a database of its own it walks these
    // 50 keys, not every key the other test files hold meanwhile.
    const own = await ownDatabase();
    const scanner =
      kind === 'upstash'
        ? await managed('rest-own', { mode: 'rest', url: own.url, token: own.token })
        : await managed('tcp-own', { mode: 'tcp', url: own.redisUrl });
    try {
      const ids = Array.from({ length: 25 }, (_, i) => `scan:${i}`);
      const key = (id: string) => `${prefix}:${id}`;
      await Promise.all(ids.map((id) => scanner.set(key(id), 'x')));
      // Keys the pattern must leave out.
      await Promise.all(ids.map((id) => scanner.set(`${prefix}:other:${id}`, 'x')));

      const found = new Set<string>();
      let cursor = '0';
      do {
        const [next, keys] = await scanner.scan(cursor, `${prefix}:scan:*`, 10);
        for (const key of keys) found.add(key);
        cursor = next;
      } while (cursor !== '0');

      expect([...found].sort()).toEqual(ids.map(key).sort());
    } finally {
      await scanner.close();
      await own.close();
    }
  });

  it('answers ping with PONG', async () => {
    expect(await redis.ping()).toBe('PONG');
  });

  it('runs scripts through runScript: EVAL on first use (NOSCRIPT), EVALSHA afterwards', async () => {
    // A body unique to this run, so no earlier run can have loaded it.
    const script = defineScript(
      'echo-incr',
      `-- ${prefix}\nlocal n = redis.call('INCRBY', KEYS[1], ARGV[1])\nreturn {n, ARGV[2], false}`,
    );
    const noscript = await redis
      .evalsha(script.variants[kind].sha, [k('s')], ['1', 'x'])
      .catch((e: Error) => e);

    const first = await runScript(redis, script, [k('s')], [2, 'hello']);
    const second = await redis.evalsha(script.variants[kind].sha, [k('s')], ['3', 'again']);

    expect((noscript as Error).message).toContain('NOSCRIPT');
    // Lua false becomes a nil element on both transports.
    expect(first).toEqual([2, 'hello', null]);
    // Sent raw, the script answers {inner calls, its reply}; runScript hands over the reply only.
    expect(second).toEqual([1, [5, 'again', null]]);
  });

  it('runs a plain eval and returns raw replies', async () => {
    await redis.set(k('e'), '42');

    const reply = await redis.eval("return {redis.call('GET', KEYS[1]), 7, 'ok'}", [k('e')], []);

    expect(reply).toEqual(['42', 7, 'ok']);
  });

  it('sends the allow-key-locking shebang only to Upstash', () => {
    const script = defineScript('noop', 'return 1');
    const text = script.variants[kind].text;

    expect(text.startsWith('#!lua flags=allow-key-locking\n')).toBe(kind === 'upstash');
    expect(script.variants[kind].sha).toBe(createHash('sha1').update(text).digest('hex'));
  });
});

describe('TcpRedisClient against a plain Redis', () => {
  it('shows why the shebang is per kind: plain Redis rejects the Upstash flag', async () => {
    const tcp = await TcpRedisClient.connect(inject('redisUrl'));
    try {
      const error = await tcp.eval('#!lua flags=allow-key-locking\nreturn 1', [], []).catch((e: Error) => e);

      expect((error as Error).message).toMatch(/Unexpected flag in script shebang/);
    } finally {
      await tcp.close();
    }
  });

  it('treats *.upstash.io hosts as Upstash', () => {
    expect(serverKindOf('rediss://default:pw@eu1-example.upstash.io:6379')).toBe('upstash');
    expect(serverKindOf('redis://127.0.0.1:6379')).toBe('redis');
  });
});
