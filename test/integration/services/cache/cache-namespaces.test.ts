import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheService } from '../../../../lambda/services/cache/cache-service';
import { NotFoundError, ValidationError } from '../../../../lambda/shared/errors';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import { type OwnDatabase, ownDatabase, randomPrefix } from '../../../helpers/redis';

/**
 * Cache namespaces invalidated by a generation: through CacheService only (two instances stand
 * for two containers), on a database of this file's own so its SCANs see only its keys.
 */
describe('CacheService namespaces', () => {
  let db: OwnDatabase;
  let keys: KeyBuilder;
  const containers = () =>
    [0, 1].map(() => new CacheService({ redis: db.redis, keys, namespaces: ['products', 'users'] })) as [
      CacheService,
      CacheService,
    ];

  beforeAll(async () => {
    db = await ownDatabase('cache-namespaces');
  });
  afterAll(() => db.close());

  const scanAll = async (pattern: string): Promise<string[]> => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, page] = await db.redis.scan(cursor, pattern, 1_000);
      found.push(...page);
      cursor = next;
    } while (cursor !== '0');
    return found;
  };

  it('invalidates a namespace in one command: no container serves an old value after it', async () => {
    keys = new KeyBuilder(randomPrefix());
    const [a, b] = containers();
    const entries = Array.from({ length: 50 }, (_, i) => ({ key: `products:${i}`, value: { n: i } }));
    await a.mset('acme', entries, { ttlMs: 600_000 });
    await a.set('acme', 'users:1', 'ada');
    await a.set('acme', 'plain', 'p');
    // Container b has seen the namespace's generation too.
    expect(await b.get('acme', 'products:1')).toMatchObject({ value: { n: 1 } });

    db.endpoint.resetStats();
    await a.invalidateNamespace('acme', 'products');
    expect(db.endpoint.stats().commands).toBe(1);
    expect(db.endpoint.stats().requests).toBe(1);

    // Neither container serves an old value, by any read path.
    for (const c of [a, b]) {
      expect(await c.get('acme', 'products:1')).toBeNull();
      expect((await c.mget('acme', ['products:2', 'users:1', 'plain'])).map((h) => h?.value ?? null)).toEqual(
        [null, 'ada', 'p'],
      );
      expect(await c.exists('acme', 'products:3')).toBe(false);
      expect(await c.ttl('acme', 'products:4')).toBeNull();
      expect(await c.getOrSet('acme', 'products:5', () => 'fresh')).toBe('fresh');
    }
    // Other namespaces and tenants are untouched; a write after the bump is read by both.
    await b.set('globex', 'products:1', 'g');
    expect(await a.get('globex', 'products:1')).toMatchObject({ value: 'g' });
    await a.set('acme', 'products:1', 'new');
    expect(await b.get('acme', 'products:1')).toMatchObject({ value: 'new' });
  });

  it('keeps a cached read at one round trip (the generation rides along), and old values age out by their TTL', async () => {
    keys = new KeyBuilder(randomPrefix());
    const [a] = containers();
    await a.set('acme', 'products:hot', 1, { ttlMs: 60_000 });
    await a.get('acme', 'products:hot');
    db.endpoint.resetStats();
    expect(await a.get('acme', 'products:hot')).toMatchObject({ value: 1 });
    expect(db.endpoint.stats()).toMatchObject({ requests: 1, commands: 2 });

    await a.invalidateNamespace('acme', 'products');
    // The orphan is still there, unreachable, with the TTL it was written with.
    const stored = await scanAll(a.pattern('acme', 'products:'));
    expect(stored).toHaveLength(1);
    const left = await db.redis.pttl(stored[0] as string);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThanOrEqual(60_000);
  });

  it('lets a container whose generation is stale write where every container reads', async () => {
    keys = new KeyBuilder(randomPrefix());
    const [a, b] = containers();
    await b.set('acme', 'users:1', 'v1');
    await a.invalidateNamespace('acme', 'users');
    // b still remembers the old generation: its write checks it in the same round trip.
    await b.set('acme', 'users:1', 'v2');
    expect(await a.get('acme', 'users:1')).toMatchObject({ value: 'v2' });
    expect(await b.delete('acme', 'users:1')).toBe(true);
    expect(await a.get('acme', 'users:1')).toBeNull();
  });

  it('still invalidates by prefix with SCAN inside a namespace, across generations, and nothing else', async () => {
    keys = new KeyBuilder(randomPrefix());
    const [a] = containers();
    await a.set('acme', 'products:1:a', 1);
    await a.invalidateNamespace('acme', 'products');
    await a.mset('acme', [
      { key: 'products:1:b', value: 2 },
      { key: 'products:10', value: 3 },
      { key: 'products:2', value: 4 },
      { key: 'productsx:1', value: 5 },
    ]);
    // products:1:a (an orphan of the old generation), products:1:b and products:10.
    expect(await a.invalidatePrefix('acme', 'products:1')).toBe(3);
    expect((await a.mget('acme', ['products:2', 'productsx:1'])).map((h) => h?.value)).toEqual([4, 5]);
    expect(a.pattern('acme', 'products:1')).toMatch(/:v:products:@\?{8}:1\*$/);
  });

  it('refuses an undeclared namespace and a bad name', async () => {
    keys = new KeyBuilder(randomPrefix());
    const [a] = containers();
    await expect(a.invalidateNamespace('acme', 'orders')).rejects.toThrow(NotFoundError);
    expect(() => new CacheService({ redis: db.redis, keys, namespaces: ['a:b'] })).toThrow(ValidationError);
  });
});
