import type { KeyBuilder } from '../../shared/keys';
import type { RedisLike } from '../../shared/redis';
import { runScript } from '../../shared/scripts';
import { LAST_USED_SCRIPT, TOUCH_SCRIPT } from './scripts';

/** Options of {@link ApiKeyUsage}. */
export interface ApiKeyUsageOptions {
  /** A non-evicting database (the api function uses its rate limits'). */
  readonly redis: RedisLike;
  readonly keys: KeyBuilder;
  /** Most key ids a container remembers as recorded today. @default 10_000 */
  readonly maxRemembered?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** A day as `YYYY-MM-DD` (UTC). */
const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/**
 * The day each API key was last used, coarse on purpose: a container writes a key's day at most
 * once per day (it remembers which keys it recorded today), so a request costs no write; the one
 * write of the day is issued beside the request's rate-limit check and rides its round trip. A key
 * seen by several containers is recorded once by each of them per day, and the stored day never
 * moves back.
 */
export class ApiKeyUsage {
  readonly #redis: RedisLike;
  readonly #key: string;
  readonly #max: number;
  readonly #now: () => number;
  readonly #recorded = new Map<string, string>();

  constructor(options: ApiKeyUsageOptions) {
    this.#redis = options.redis;
    this.#key = options.keys.global('apikey', 'last-used');
    this.#max = options.maxRemembered ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Records that `keyId` is used today, unless this container did so already today: then nothing
   * is sent and `null` returned. Never throws: a lost write only leaves the day older.
   */
  touch(keyId: string): Promise<void> | null {
    const today = dayOf(this.#now());
    if (this.#recorded.get(keyId) === today) return null;
    this.#recorded.delete(keyId);
    this.#recorded.set(keyId, today);
    if (this.#recorded.size > this.#max) {
      const oldest = this.#recorded.keys().next().value;
      if (oldest !== undefined) this.#recorded.delete(oldest);
    }
    return runScript(this.#redis, TOUCH_SCRIPT, [this.#key], [keyId, today]).then(
      () => undefined,
      () => {
        // Unrecorded: try again on the key's next request.
        if (this.#recorded.get(keyId) === today) this.#recorded.delete(keyId);
      },
    );
  }

  /** Every key's last-used day (`YYYY-MM-DD`, UTC), by key id. One command. */
  async lastUsed(): Promise<Map<string, string>> {
    const flat = await runScript<unknown[]>(this.#redis, LAST_USED_SCRIPT, [this.#key], []);
    const days = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) days.set(String(flat[i]), String(flat[i + 1]));
    return days;
  }
}
