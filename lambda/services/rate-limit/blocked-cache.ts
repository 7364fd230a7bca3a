/**
 * Identifiers known to be blocked until a time (epoch ms), so a warm container answers them
 * without a command. Bounded, unlike upstream's ephemeral cache: expired entries are swept when
 * the cache is full, then the entries closest to expiry go first.
 */
export class BlockedCache {
  readonly #until = new Map<string, number>();

  /** @param maxEntries - most identifiers held at once. */
  constructor(readonly maxEntries = 1000) {}

  /** Number of identifiers held. */
  get size(): number {
    return this.#until.size;
  }

  /** The time `key` stays blocked until, or `null` when it is not known to be blocked at `now`. */
  blockedUntil(key: string, now: number): number | null {
    const until = this.#until.get(key);
    if (until === undefined) return null;
    if (until <= now) {
      this.#until.delete(key);
      return null;
    }
    return until;
  }

  /** Remembers that `key` is blocked until `until`. */
  block(key: string, until: number, now: number): void {
    if (until <= now || this.maxEntries <= 0) return;
    this.#until.delete(key);
    this.#until.set(key, until);
    if (this.#until.size <= this.maxEntries) return;
    for (const [k, u] of this.#until) if (u <= now) this.#until.delete(k);
    while (this.#until.size > this.maxEntries) {
      let soonest: string | undefined;
      let soonestUntil = Number.POSITIVE_INFINITY;
      for (const [k, u] of this.#until) {
        if (u < soonestUntil) {
          soonest = k;
          soonestUntil = u;
        }
      }
      if (soonest === undefined) break;
      this.#until.delete(soonest);
    }
  }

  /** Forgets `key` (after a refund or a reset). */
  unblock(key: string): void {
    this.#until.delete(key);
  }
}
