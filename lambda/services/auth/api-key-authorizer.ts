import {
  type ApiKeyRecord,
  type ApiKeySet,
  findApiKey,
  isExpired,
  parseApiKeySet,
} from '../../shared/api-keys';
import { type Memo, memoize } from '../../shared/memo';

/** Options of {@link ApiKeyAuthorizer}. */
export interface ApiKeyAuthorizerOptions {
  /** Reads the secret's text; `undefined` when the secret has no value yet. */
  readonly loadSecret: () => Promise<string | undefined>;
  /**
   * Least time between two re-reads caused by unknown keys, in ms. A key minted a moment ago
   * works on its first request (API Gateway would cache a denial for the whole authorizer TTL);
   * a flood of wrong keys costs one read per interval per container at most.
   * @default 1_000
   */
  readonly refreshIntervalMs?: number;
  /**
   * Age after which the set is re-read on the next request, in ms, so a revoked key stops
   * working in a warm container too. API Gateway's own decision cache comes on top: the two
   * add up to the deployment's `auth.revocationDelay`.
   * @default 60_000
   */
  readonly maxAgeMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Checks API keys against the hashed set in Secrets Manager. The set is read once per cold start
 * (concurrent first calls share the read, a failed read is retried by the next call), and again
 * when it is older than `maxAgeMs` or when an unknown key arrives, at most once per
 * `refreshIntervalMs`.
 */
export class ApiKeyAuthorizer {
  readonly #load: () => Promise<string | undefined>;
  readonly #refreshMs: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  /** The key set, read once and again on demand; a failed read is retried by the next call. */
  readonly #set: Memo<ApiKeySet>;
  #loaded = false;
  #loadedAt = 0;
  #reads = 0;

  constructor(options: ApiKeyAuthorizerOptions) {
    this.#load = options.loadSecret;
    this.#refreshMs = options.refreshIntervalMs ?? 1_000;
    this.#maxAgeMs = options.maxAgeMs ?? 60_000;
    this.#now = options.now ?? (() => Date.now());
    this.#set = memoize(() =>
      this.#load()
        .then(parseApiKeySet)
        .catch((error: unknown) => {
          // The next request reads again (and counts the read).
          this.#loaded = false;
          throw error;
        }),
    );
  }

  /** How many times the secret was read (for tests and logs). */
  get reads(): number {
    return this.#reads;
  }

  #read(): Promise<ApiKeySet> {
    this.#reads += 1;
    this.#loadedAt = this.#now();
    this.#loaded = true;
    this.#set.forget();
    return this.#set();
  }

  /** The record of `key`, or `null` for a missing, empty, unknown or expired key. */
  async authorize(key: string | undefined): Promise<ApiKeyRecord | null> {
    // Keys are 48 characters; a cap keeps a huge header from being hashed for nothing.
    if (key === undefined || key === '' || key.length > 256) return null;
    const age = this.#now() - this.#loadedAt;
    const set = this.#loaded && age < this.#maxAgeMs ? await this.#set() : await this.#read();
    let found = findApiKey(set, key);
    if (!found && this.#now() - this.#loadedAt >= this.#refreshMs)
      found = findApiKey(await this.#read(), key);
    return found && !isExpired(found, this.#now()) ? found : null;
  }
}
