import { createHash } from 'node:crypto';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyKeys, redisCheckpoint, verifyKeys } from '../../../../lambda/services/migration/copy';
import type { UpstashRedisClient } from '../../../../lambda/shared/redis';
import { type RedisServer, startRedisServer } from '../../../../local/redis-server';
import { type OwnDatabase, ownDatabase, randomPrefix } from '../../../helpers/redis';

/**
 * The key copy between two real Redis servers: the old one (a private redis-server) and the
 * target behind the local Upstash endpoint, reached through the real @upstash/redis. Both are
 * this file's own: tens of thousands of keys on the shared Redis would slow every test that walks it.
 */

// Enough for 40 batches, an interruption half way and every type; the rate is the bench's business.
const KEYS = 20_000;
const TYPES = ['string', 'hash', 'list', 'set', 'zset'] as const;

describe('copyKeys', () => {
  let old: RedisServer;
  let own: OwnDatabase;
  let source: IORedis;
  let target: IORedis;
  let upstash: UpstashRedisClient;
  const p = randomPrefix();

  beforeAll(async () => {
    [old, own] = await Promise.all([startRedisServer(), ownDatabase()]);
    source = new IORedis(old.url);
    target = new IORedis(own.redisUrl);
    upstash = own.redis;
    // 4,000 keys of each type; every other key with a TTL of 10 to 20 minutes.
    for (let start = 0; start < KEYS; start += 5_000) {
      const pipe = source.pipeline();
      for (let i = start; i < start + 5_000; i++) {
        const type = TYPES[i % TYPES.length];
        const key = `${p}:${type}:${i}`;
        if (type === 'string') pipe.set(key, `value ${i} é`);
        else if (type === 'hash') pipe.hset(key, { a: String(i), b: 'two', 'c d': '' });
        else if (type === 'list') pipe.rpush(key, 'x', String(i), 'x');
        else if (type === 'set') pipe.sadd(key, 'm1', `m${i}`, 'm3');
        else pipe.zadd(key, 1.5, 'a', i, 'b', -2, 'c');
        if (i % 2 === 0) pipe.pexpire(key, 600_000 + (i % 600_000));
      }
      await pipe.exec();
    }
  }, 60_000);
  afterAll(async () => {
    source?.disconnect();
    target?.disconnect();
    await old?.stop();
    await own?.close();
  });

  /** SHA-256 over every target key under the prefix and its DUMP (value and type, not TTL). */
  async function targetDigest(): Promise<{ keys: number; digest: string }> {
    const entries: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await target.scan(cursor, 'MATCH', `${p}:*`, 'COUNT', 5_000);
      cursor = next;
      const dumps = await Promise.all(keys.map((k) => target.dumpBuffer(k)));
      keys.forEach((k, i) => {
        entries.push(
          `${k} ${createHash('sha256')
            .update(dumps[i] ?? '')
            .digest('hex')}`,
        );
      });
    } while (cursor !== '0');
    return {
      keys: entries.length,
      digest: createHash('sha256').update(entries.sort().join('\n')).digest('hex'),
    };
  }

  it('copies 20,000 keys of every type with TTLs, resumes after an interruption, and a re-run changes nothing', async () => {
    const checkpoint = redisCheckpoint(upstash, `${p}-checkpoint`);
    const progress: number[] = [];

    // Interrupted halfway: stop after 20 batches of about 500.
    const first = await copyKeys({ source, target: upstash, checkpoint, match: `${p}:*`, maxBatches: 20 });
    expect(first.done).toBe(false);
    expect(first.copied).toBeGreaterThan(KEYS * 0.3);
    expect(first.copied).toBeLessThan(KEYS * 0.7);
    expect(await checkpoint.load()).toMatchObject({ cursor: first.cursor, copied: first.copied });

    // Resumed from the checkpoint, in a new call as a new process would.
    const second = await copyKeys({
      source,
      target: upstash,
      checkpoint,
      match: `${p}:*`,
      onProgress: (_state, rate) => progress.push(rate.keysPerSecond),
    });
    expect(second.done).toBe(true);
    // SCAN may return a key twice; each key is counted per time it was copied, never fewer.
    expect(second.copied).toBeGreaterThanOrEqual(KEYS);
    expect(Object.keys(second.byType).sort()).toEqual([...TYPES].sort());
    expect(progress.length).toBeGreaterThan(0);

    const report = await verifyKeys({ source, target: upstash, match: `${p}:*`, ttlToleranceMs: 2_000 });
    expect(report).toEqual({
      checked: KEYS,
      equal: KEYS,
      missing: 0,
      typeMismatch: 0,
      valueMismatch: 0,
      ttlMismatch: 0,
      examples: [],
    });
    const before = await targetDigest();
    expect(before.keys).toBe(KEYS);

    // The same command again: the checkpoint says done, nothing is written.
    const again = await copyKeys({ source, target: upstash, checkpoint, match: `${p}:*` });
    expect(again).toEqual(second);
    // From scratch: every key rewritten with the same content.
    await copyKeys({ source, target: upstash, checkpoint, match: `${p}:*`, restart: true });
    expect(await targetDigest()).toEqual(before);
  }, 120_000);

  it('finds a changed value, a missing key and a lost TTL, naming patterns only', async () => {
    const q = randomPrefix();
    // Keys in the app's layout (prefix:feature:tenant:id): the report may name prefix:feature:tenant.
    const [a, b, c] = ['1', '2', '3'].map((id) => `${q}:cache:acme:${id}`) as [string, string, string];
    await source.set(a, 'one');
    await source.set(b, 'two', 'PX', 600_000);
    await source.set(c, 'three');
    await copyKeys({
      source,
      target: upstash,
      checkpoint: redisCheckpoint(upstash, `${q}-cp`),
      match: `${q}:*`,
    });
    await target.set(a, 'changed');
    await target.persist(b);
    await target.del(c);
    const report = await verifyKeys({ source, target: upstash, match: `${q}:*` });
    expect(report).toEqual({
      checked: 3,
      equal: 0,
      missing: 1,
      typeMismatch: 0,
      valueMismatch: 1,
      ttlMismatch: 1,
      examples: [`${q}:cache:acme:*`],
    });
    expect(JSON.stringify(report)).not.toMatch(/one|two|three|changed/);
  });

  it('verifies a sample drawn only from the keys matching the pattern', async () => {
    const q = randomPrefix();
    const pipe = source.pipeline();
    for (let i = 0; i < 300; i++) pipe.set(`${q}:in:${i}`, `v${i}`);
    await pipe.exec();
    await copyKeys({
      source,
      target: upstash,
      checkpoint: redisCheckpoint(upstash, `${q}-cp`),
      match: `${q}:in:*`,
    });
    // The 20,000 keys of the first test are in the same source: none of them may be sampled.
    const report = await verifyKeys({ source, target: upstash, match: `${q}:in:*`, sample: 50 });
    expect(report).toMatchObject({ checked: 50, equal: 50 });
    const all = await verifyKeys({ source, target: upstash, match: `${q}:in:*`, sample: 1_000 });
    expect(all).toMatchObject({ checked: 300, equal: 300 });
  });

  it('counts and sizes without writing on a dry run', async () => {
    const q = randomPrefix();
    await source.set(`${q}:k`, '12345');
    await source.hset(`${q}:h`, { f: 'v' });
    const dry = await copyKeys({
      source,
      target: upstash,
      checkpoint: redisCheckpoint(upstash, `${q}-cp`),
      match: `${q}:*`,
      dryRun: true,
    });
    expect(dry).toMatchObject({ done: true, copied: 2, byType: { string: 1, hash: 1 } });
    expect(dry.bytes).toBe(Buffer.byteLength(`${q}:k`) + 5 + Buffer.byteLength(`${q}:h`) + 2);
    expect(await target.exists(`${q}:k`, `${q}:h`, `${q}-cp`)).toBe(0);
  });
});
