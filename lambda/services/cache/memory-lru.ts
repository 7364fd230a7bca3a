/** One entry of {@link MemoryLru}: the stored text and when it expires (epoch ms). */
interface LruEntry {
  readonly value: string;
  readonly expiresAt: number;
}

/**
 * The per-container store of the cache fallback: least recently used first out, bounded by
 * entries and by bytes (UTF-16 length of key + value, a cheap upper bound), TTLs honoured.
 */
export class MemoryLru {
  readonly #entries = new Map<string, LruEntry>();
  #bytes = 0;

  /**
   * @param maxEntries - most entries held.
   * @param maxBytes - most bytes held (approximate: 2 bytes per UTF-16 unit).
   */
  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
  ) {}

  /** Entries held, expired ones included until touched. */
  get size(): number {
    return this.#entries.size;
  }

  /** Approximate bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  static #cost(key: string, value: string): number {
    return 2 * (key.length + value.length);
  }

  /** The value of `key`, or `null` when absent or expired; a hit becomes the most recent. */
  get(key: string, now: number): string | null {
    const entry = this.#entries.get(key);
    if (!entry) return null;
    if (entry.expiresAt <= now) {
      this.delete(key);
      return null;
    }
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Remaining ms of `key`, or `null` when absent. */
  ttl(key: string, now: number): number | null {
    const entry = this.#entries.get(key);
    if (!entry || entry.expiresAt <= now) return null;
    return entry.expiresAt - now;
  }

  /** Stores `value` until `expiresAt`; values larger than the whole budget are not kept. */
  set(key: string, value: string, expiresAt: number): void {
    this.delete(key);
    const cost = MemoryLru.#cost(key, value);
    if (cost > this.maxBytes || this.maxEntries <= 0) return;
    this.#entries.set(key, { value, expiresAt });
    this.#bytes += cost;
    for (const [oldest, entry] of this.#entries) {
      if (this.#entries.size <= this.maxEntries && this.#bytes <= this.maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= MemoryLru.#cost(oldest, entry.value);
    }
  }

  /** Removes `key`; returns whether it was held (and not expired). */
  delete(key: string, now = Number.NEGATIVE_INFINITY): boolean {
    const entry = this.#entries.get(key);
    if (!entry) return false;
    this.#entries.delete(key);
    this.#bytes -= MemoryLru.#cost(key, entry.value);
    return entry.expiresAt > now;
  }
}
