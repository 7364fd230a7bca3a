import type { Redis as IORedis } from 'ioredis';
import type { RedisLike } from '../../shared/redis';
import { runScript } from '../../shared/scripts';
import { READ_KEY_SCRIPT, WRITE_KEY_SCRIPT } from './scripts';

/**
 * Copies keys from a self-hosted Redis to Upstash: SCAN in batches, each key read whole with its
 * TTL in one script on the source and written whole in one script on the target (atomic per key,
 * so a re-run rewrites the same content: idempotent). A checkpoint after each batch makes the copy
 * resumable from where it stopped. Strings, hashes, lists, sets and sorted sets; values travel as
 * UTF-8 text (binary values that are not valid UTF-8 are not supported).
 */

/** Types the copy moves. */
export const COPIED_TYPES = ['string', 'hash', 'list', 'set', 'zset'] as const;

/** Where a copy stands; also what the checkpoint stores. */
export interface CopyProgress {
  /** The SCAN cursor to continue from (`'0'` at the start and once done). */
  readonly cursor: string;
  readonly done: boolean;
  /** Keys SCAN returned so far. */
  readonly scanned: number;
  /** Keys written to the target. */
  readonly copied: number;
  /** Keys gone (expired or deleted) between SCAN and read, or of another type (streams...). */
  readonly skipped: number;
  /** Keys of each type copied. */
  readonly byType: Readonly<Record<string, number>>;
  /** Bytes of keys and items read. */
  readonly bytes: number;
  /**
   * Keys to copy, as counted when the copy started: the keys matching the pattern
   * ({@link CopyOptions.countFirst}), or DBSIZE when the pattern is `*`; `null` when unknown
   * (a pattern, not counted). The base of the progress share and the ETA.
   */
  readonly total: number | null;
  readonly startedAt: number;
  readonly updatedAt: number;
}

/** What the progress callback also gets. */
export interface CopyRate {
  readonly keysPerSecond: number;
  /** Seconds left at this rate; `null` until there is a rate, or when the total is unknown. */
  readonly etaSeconds: number | null;
}

/** Stores the checkpoint. */
export interface CheckpointStore {
  load(): Promise<CopyProgress | null>;
  save(progress: CopyProgress): Promise<void>;
}

/** A checkpoint kept as JSON in a key of the target. */
export function redisCheckpoint(target: RedisLike, key: string): CheckpointStore {
  return {
    async load() {
      const text = await target.get(key);
      return text ? (JSON.parse(text) as CopyProgress) : null;
    },
    async save(progress) {
      await target.set(key, JSON.stringify(progress));
    },
  };
}

/** Options of {@link copyKeys}. */
export interface CopyOptions {
  /** The old Redis (ioredis): SCAN, DBSIZE, and the read script. */
  readonly source: IORedis;
  /** Upstash (or any RedisLike). */
  readonly target: RedisLike;
  readonly checkpoint: CheckpointStore;
  /** SCAN MATCH pattern. @default '*' */
  readonly match?: string;
  /** SCAN COUNT, and keys written per round trip. @default 500 */
  readonly batch?: number;
  /** Count and size only; write nothing (no checkpoint either). @default false */
  readonly dryRun?: boolean;
  /** Start over even if a checkpoint exists. @default false */
  readonly restart?: boolean;
  /** Stops after the current batch (its checkpoint is saved). */
  readonly signal?: AbortSignal;
  /** Stops after this many batches (for time-boxed runs). @default Infinity */
  readonly maxBatches?: number;
  /**
   * Before the first batch of a new copy, count the keys matching `match` (one SCAN pass over the
   * source, key names only), so `total` and the ETA are right. Off, a copy with a pattern has no
   * total: a pass over the whole keyspace may not fit in a time-boxed run.
   * @default false
   */
  readonly countFirst?: boolean;
  readonly onProgress?: (progress: CopyProgress, rate: CopyRate) => void;
  /** @default Date.now */
  readonly now?: () => number;
}

/** A {@link RedisLike} view of an ioredis client, for the scripts (the source is a plain Redis). */
function sourceScripts(source: IORedis): Pick<RedisLike, 'kind' | 'evalsha' | 'eval'> {
  return {
    kind: 'redis',
    evalsha: (sha, keys, args) => source.evalsha(sha, keys.length, ...keys, ...args),
    eval: (script, keys, args) => source.eval(script, keys.length, ...keys, ...args),
  };
}

/** One key as read by the read script. */
export interface KeyContent {
  readonly type: string;
  /** PTTL: -1 without expiry, -2 when gone. */
  readonly pttl: number;
  readonly items: readonly string[];
}

/** Reads keys whole, one script each, all sent at once (one round trip on REST). */
export async function readKeys(redis: Pick<RedisLike, 'kind' | 'evalsha' | 'eval'>, keys: readonly string[]) {
  const replies = await Promise.all(
    keys.map((key) => runScript<unknown[]>(redis as RedisLike, READ_KEY_SCRIPT, [key], [])),
  );
  return replies.map(
    (reply): KeyContent => ({
      type: String(reply[0]),
      pttl: Number(reply[1]),
      items: reply.slice(2).map(String),
    }),
  );
}

const sizeOf = (key: string, content: KeyContent) =>
  Buffer.byteLength(key) + content.items.reduce((sum, item) => sum + Buffer.byteLength(item), 0);

/** The total of a new copy: counted, DBSIZE for `*` (every key matches), else unknown. */
async function countTotal(
  source: IORedis,
  match: string,
  batch: number,
  count: boolean,
): Promise<number | null> {
  if (match === '*') return Number(await source.dbsize());
  if (!count) return null;
  // Key names only, in large steps; a key SCAN returns twice is counted twice (rare, harmless).
  let total = 0;
  let cursor = '0';
  do {
    const [next, keys] = await source.scan(cursor, 'MATCH', match, 'COUNT', Math.max(batch, 1_000));
    total += keys.length;
    cursor = next;
  } while (cursor !== '0');
  return total;
}

/**
 * Copies (or, with `dryRun`, counts) the keys matching `match`, resuming from the checkpoint.
 * Returns the final progress; `done` is false when stopped by `signal` or `maxBatches`.
 */
export async function copyKeys(options: CopyOptions): Promise<CopyProgress> {
  const now = options.now ?? (() => Date.now());
  const batch = options.batch ?? 500;
  const match = options.match ?? '*';
  const source = sourceScripts(options.source);
  const saved = options.restart || options.dryRun ? null : await options.checkpoint.load();
  if (saved?.done) return saved;
  let progress: CopyProgress = saved ?? {
    cursor: '0',
    done: false,
    scanned: 0,
    copied: 0,
    skipped: 0,
    byType: {},
    bytes: 0,
    total: await countTotal(options.source, match, batch, options.countFirst ?? false),
    startedAt: now(),
    updatedAt: now(),
  };
  const runStart = now();
  const copiedAtStart = progress.copied + progress.skipped;
  let batches = 0;
  let cursor = progress.cursor;
  do {
    if (options.signal?.aborted || batches >= (options.maxBatches ?? Number.POSITIVE_INFINITY)) break;
    const [next, keys] = await options.source.scan(cursor, 'MATCH', match, 'COUNT', batch);
    const contents = keys.length > 0 ? await readKeys(source, keys) : [];
    const byType = { ...progress.byType };
    let copied = 0;
    let skipped = 0;
    let bytes = 0;
    const writes: Array<Promise<unknown>> = [];
    for (const [i, key] of keys.entries()) {
      const content = contents[i] as KeyContent;
      if (!(COPIED_TYPES as readonly string[]).includes(content.type) || content.pttl === -2) {
        skipped += 1;
        continue;
      }
      copied += 1;
      bytes += sizeOf(key, content);
      byType[content.type] = (byType[content.type] ?? 0) + 1;
      if (!options.dryRun) {
        // The TTL left now: the copy does not extend a key's life past the source's.
        const ttl = Math.max(0, content.pttl);
        writes.push(
          runScript(options.target, WRITE_KEY_SCRIPT, [key], [content.type, ttl, ...content.items]),
        );
      }
    }
    await Promise.all(writes);
    cursor = next;
    batches += 1;
    progress = {
      ...progress,
      cursor,
      done: cursor === '0',
      scanned: progress.scanned + keys.length,
      copied: progress.copied + copied,
      skipped: progress.skipped + skipped,
      byType,
      bytes: progress.bytes + bytes,
      updatedAt: now(),
    };
    // After the writes: a crash between the two re-copies this batch on resume, which is harmless.
    if (!options.dryRun) await options.checkpoint.save(progress);
    const elapsed = (now() - runStart) / 1000;
    const rate = elapsed > 0 ? (progress.copied + progress.skipped - copiedAtStart) / elapsed : 0;
    const total = progress.total;
    options.onProgress?.(progress, {
      keysPerSecond: Math.round(rate),
      etaSeconds:
        rate > 0 && total !== null ? Math.round(Math.max(0, total - progress.scanned) / rate) : null,
    });
  } while (cursor !== '0');
  return progress;
}

/** Options of {@link verifyKeys}. */
export interface VerifyOptions {
  readonly source: IORedis;
  readonly target: RedisLike;
  /** @default '*' */
  readonly match?: string;
  /** Compare this many keys, drawn uniformly from those matching `match`. @default - all */
  readonly sample?: number;
  /** TTL difference still counted as equal, in ms. @default 2_000 */
  readonly ttlToleranceMs?: number;
  /** @default 500 */
  readonly batch?: number;
}

/** What a verification found. */
export interface VerifyReport {
  readonly checked: number;
  readonly equal: number;
  readonly missing: number;
  readonly typeMismatch: number;
  readonly valueMismatch: number;
  readonly ttlMismatch: number;
  /** Key patterns (ids replaced by `*`) of the first differences, never values. */
  readonly examples: readonly string[];
}

/** The items of a key in a canonical order (hashes, sets and sorted sets have none). */
function canonical(content: KeyContent): string {
  const items = [...content.items];
  if (content.type === 'set') return JSON.stringify(items.sort());
  if (content.type === 'hash' || content.type === 'zset') {
    const pairs: string[] = [];
    for (let i = 0; i + 1 < items.length; i += 2) pairs.push(JSON.stringify([items[i], items[i + 1]]));
    return JSON.stringify(pairs.sort());
  }
  return JSON.stringify(items);
}

/** Compares keys of the source with the target: type, value, and TTL within the tolerance. */
export async function verifyKeys(options: VerifyOptions): Promise<VerifyReport> {
  const tolerance = options.ttlToleranceMs ?? 2_000;
  const source = sourceScripts(options.source);
  const report = { checked: 0, equal: 0, missing: 0, typeMismatch: 0, valueMismatch: 0, ttlMismatch: 0 };
  const examples: string[] = [];
  const note = (key: string) => {
    const parts = key.split(':');
    const pattern = parts.length >= 4 ? `${parts.slice(0, 3).join(':')}:*` : '*';
    if (examples.length < 10 && !examples.includes(pattern)) examples.push(pattern);
  };
  const compare = async (keys: readonly string[]) => {
    const [mine, theirs] = await Promise.all([readKeys(source, keys), readKeys(options.target, keys)]);
    for (const [i, key] of keys.entries()) {
      const a = mine[i] as KeyContent;
      const b = theirs[i] as KeyContent;
      if (a.type === 'none' || !(COPIED_TYPES as readonly string[]).includes(a.type)) continue;
      report.checked += 1;
      if (b.type === 'none') {
        report.missing += 1;
        note(key);
      } else if (a.type !== b.type) {
        report.typeMismatch += 1;
        note(key);
      } else if (canonical(a) !== canonical(b)) {
        report.valueMismatch += 1;
        note(key);
      } else if (a.pttl < 0 !== b.pttl < 0 || Math.abs(a.pttl - b.pttl) > tolerance) {
        report.ttlMismatch += 1;
        note(key);
      } else {
        report.equal += 1;
      }
    }
  };
  const batch = options.batch ?? 500;
  const scanAll = async (each: (keys: string[]) => Promise<void>) => {
    let cursor = '0';
    do {
      const [next, keys] = await options.source.scan(cursor, 'MATCH', options.match ?? '*', 'COUNT', batch);
      if (keys.length > 0) await each(keys);
      cursor = next;
    } while (cursor !== '0');
  };
  if (options.sample !== undefined) {
    // A uniform sample of the keys matching the pattern (reservoir sampling over SCAN: key names
    // only, no values, and none outside --match, which RANDOMKEY would not guarantee).
    // Memory is the sample's, not the keyspace's; a key SCAN returns twice is not taken twice.
    const size = options.sample;
    const sample: string[] = [];
    const taken = new Set<string>();
    let seen = 0;
    await scanAll(async (keys) => {
      for (const key of keys) {
        if (taken.has(key)) continue;
        seen += 1;
        if (sample.length < size) {
          sample.push(key);
          taken.add(key);
          continue;
        }
        const j = Math.floor(Math.random() * seen);
        if (j < size) {
          taken.delete(sample[j] as string);
          sample[j] = key;
          taken.add(key);
        }
      }
    });
    for (let i = 0; i < sample.length; i += batch) await compare(sample.slice(i, i + batch));
  } else {
    await scanAll(compare);
  }
  return { ...report, examples };
}
