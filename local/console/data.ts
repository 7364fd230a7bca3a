import type { Feature } from '../../lambda/shared/config';
import { KeyBuilder, type KeySpace, validateTenant } from '../../lambda/shared/keys';
import type { RestDatabase } from './upstash-rest';

/**
 * The console's data browser: a tenant's keys under one key space, by id prefix, with their
 * type, TTL and size, and one key's value. Every pattern and key goes through the one key
 * builder with the tenant validated, so the browser never reaches past the tenant's keys; it
 * reads through the local Upstash endpoint (tagged as the console's) and writes nothing.
 */

/** The key spaces the browser offers, and the feature whose database holds each. */
export const SPACES: Readonly<Partial<Record<KeySpace, Feature>>> = {
  cache: 'cache',
  stats: 'cache',
  session: 'sessions',
  ratelimit: 'rateLimit',
  idempotency: 'rateLimit',
  apikey: 'rateLimit',
  lock: 'locks',
  queue: 'queue',
};

/** One key of a page. */
export interface KeyEntry {
  readonly key: string;
  /** The key without `<prefix>:<space>:<tenant>:`. */
  readonly id: string;
  readonly type: string;
  /** PTTL: -1 without expiry, -2 gone meanwhile. */
  readonly ttlMs: number;
  /** MEMORY USAGE, in bytes. */
  readonly bytes: number;
}

/** A page of keys. */
export interface KeyPage {
  readonly keys: readonly KeyEntry[];
  /** Pass it back for more; `null` at the end. */
  readonly cursor: string | null;
}

/** A key's value, read by its type, with the first items of a large one. */
export interface KeyValue {
  readonly key: string;
  readonly type: string;
  readonly ttlMs: number;
  readonly bytes: number;
  /** A string; an object (hash); an array (list, set); [member, score] pairs (zset); entries (stream). */
  readonly value: unknown;
  /** Items of the value left out. */
  readonly truncated: boolean;
}

/** Thrown for a request the browser refuses: the page shows its message. */
export class BrowseError extends Error {}

/** Items of a collection shown at most. */
const ITEMS = 100;
/** Keys SCAN is asked for per page. */
const SCAN_COUNT = 500;

/** The data browser over the stack's databases. */
export class DataBrowser {
  readonly #keys: KeyBuilder;

  constructor(
    prefix: string,
    private readonly databaseOf: (feature: Feature) => RestDatabase | undefined,
  ) {
    this.#keys = new KeyBuilder(prefix);
  }

  #database(space: string): { db: RestDatabase; space: KeySpace } {
    const feature = SPACES[space as KeySpace];
    const db = feature ? this.databaseOf(feature) : undefined;
    if (!feature || !db)
      throw new BrowseError(`no key space "${space}" (known: ${Object.keys(SPACES).join(', ')})`);
    return { db, space: space as KeySpace };
  }

  #tenant(tenant: string): string {
    try {
      return validateTenant(tenant);
    } catch (error) {
      throw new BrowseError((error as Error).message);
    }
  }

  /** A page of `tenant`'s keys under `space` whose id starts with `prefix`. */
  async list(tenant: string, space: string, prefix = '', cursor = '0'): Promise<KeyPage> {
    const { db, space: keySpace } = this.#database(space);
    let pattern: string;
    try {
      pattern = this.#keys.pattern(keySpace, this.#tenant(tenant), prefix);
    } catch (error) {
      throw new BrowseError((error as Error).message);
    }
    if (!/^\d+$/.test(cursor)) throw new BrowseError('cursor must be a number');
    const [next, keys] = (await db.command('SCAN', cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT)) as [
      string,
      string[],
    ];
    const head = pattern.slice(0, -1);
    const details =
      keys.length === 0
        ? []
        : await db.pipeline(
            keys.flatMap((key) => [
              ['TYPE', key],
              ['PTTL', key],
              ['MEMORY', 'USAGE', key],
            ]),
          );
    const entries = keys
      .map((key, i) => ({
        key,
        id: key.slice(head.length - prefix.length),
        type: String(details[i * 3]),
        ttlMs: Number(details[i * 3 + 1]),
        bytes: Number(details[i * 3 + 2] ?? 0),
      }))
      .sort((a, b) => a.key.localeCompare(b.key));
    return { keys: entries, cursor: next === '0' ? null : next };
  }

  /** The value of `key`, which must be one of `tenant`'s keys under `space`. */
  async value(tenant: string, space: string, key: string): Promise<KeyValue> {
    const { db, space: keySpace } = this.#database(space);
    const own = this.#keys.internal(keySpace, this.#tenant(tenant), '');
    if (!key.startsWith(own) || key.length === own.length) {
      throw new BrowseError(`the key is not one of tenant "${tenant}"'s ${keySpace} keys`);
    }
    const [type, ttlMs, bytes] = (await db.pipeline([
      ['TYPE', key],
      ['PTTL', key],
      ['MEMORY', 'USAGE', key],
    ])) as [string, number, number | null];
    const [value, size] = await this.#read(db, type, key);
    return {
      key,
      type,
      ttlMs: Number(ttlMs),
      bytes: Number(bytes ?? 0),
      value,
      truncated: size > ITEMS,
    };
  }

  /** The value by type, and the collection's size. */
  async #read(db: RestDatabase, type: string, key: string): Promise<[unknown, number]> {
    const last = ITEMS - 1;
    if (type === 'string') return [await db.command('GET', key), 1];
    if (type === 'hash') {
      const [[, flat], size] = (await db.pipeline([
        ['HSCAN', key, 0, 'COUNT', ITEMS],
        ['HLEN', key],
      ])) as [[string, string[]], number];
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
      return [fields, Number(size)];
    }
    if (type === 'list') {
      const [items, size] = await db.pipeline([
        ['LRANGE', key, 0, last],
        ['LLEN', key],
      ]);
      return [items, Number(size)];
    }
    if (type === 'set') {
      const [[, members], size] = (await db.pipeline([
        ['SSCAN', key, 0, 'COUNT', ITEMS],
        ['SCARD', key],
      ])) as [[string, string[]], number];
      return [members, Number(size)];
    }
    if (type === 'zset') {
      const [flat, size] = (await db.pipeline([
        ['ZRANGE', key, 0, last, 'WITHSCORES'],
        ['ZCARD', key],
      ])) as [string[], number];
      const pairs: Array<[string, number]> = [];
      for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i] as string, Number(flat[i + 1])]);
      return [pairs, Number(size)];
    }
    if (type === 'stream') {
      const [entries, size] = await db.pipeline([
        ['XRANGE', key, '-', '+', 'COUNT', ITEMS],
        ['XLEN', key],
      ]);
      return [entries, Number(size)];
    }
    if (type === 'none') throw new BrowseError('the key is gone (expired or deleted)');
    return [null, 0];
  }
}
