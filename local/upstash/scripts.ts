import { createHash } from 'node:crypto';
import { SCRIPT_END, scriptPreamble } from './sandbox';

/**
 * Shebang flags Redis 7.0 understands. Upstash adds its own (`allow-key-locking` above all,
 * which `@upstash/ratelimit` 2.2 and our runtime send); Redis 7.0 rejects a script carrying an
 * unknown flag, so the endpoint strips those before the script reaches Redis.
 */
const REDIS_FLAGS = new Set(['no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys']);

const SHEBANG = /^#!lua(?:[ \t]+flags=([^\r\n]*))?[ \t]*(\r?\n|$)/;

/** Longest script whose rewrite is kept for the next call (1,000 of them at most). */
const MAX_KEPT_SCRIPT_CHARS = 64 * 1024;

export const sha1 = (text: string): string => createHash('sha1').update(text, 'utf8').digest('hex');

/** A script as Redis runs it, and the SHA the client knows it by. */
export interface PreparedScript {
  /** SHA-1 of the text the client sent: what EVALSHA and SCRIPT LOAD answer with. */
  readonly sha: string;
  /** SHA-1 of {@link text}: what Redis caches it under. */
  readonly redisSha: string;
  /** The client's script with its shebang cleaned and the database's sandbox in front. */
  readonly text: string;
}

/**
 * One database's scripts: what it may EVALSHA, and under which SHA Redis holds each one.
 *
 * Every script is rewritten on its way to Redis (Upstash-only shebang flags dropped, the Lua
 * sandbox put in front), so Redis caches it under another SHA than the one the client computed.
 * The cache maps client SHA -> Redis SHA, and it is the database's script cache as far as its
 * token can tell: EVALSHA of a script this database never loaded answers NOSCRIPT (Redis may hold
 * it for another database), SCRIPT EXISTS answers from it, and SCRIPT FLUSH empties it without
 * flushing Redis's cache, which every database shares. A forgotten mapping (endpoint restarted,
 * cache full) only costs a NOSCRIPT, which every client answers with EVAL.
 */
export class ScriptCache {
  readonly #redisSha = new Map<string, string>();
  readonly #prepared = new Map<string, PreparedScript>();
  readonly #preamble: string;

  /**
   * @param db the Redis database index the sandbox keeps scripts to
   * @param limit most scripts remembered; the oldest are forgotten first
   */
  constructor(
    db: number,
    private readonly limit = 10_000,
  ) {
    this.#preamble = scriptPreamble(db);
  }

  /** The script Redis should run for `script`, and both SHAs; remembers the mapping. */
  prepare(script: string): PreparedScript {
    let prepared = this.#prepared.get(script);
    if (!prepared) {
      const text = this.rewrite(script);
      prepared = { sha: sha1(script), redisSha: sha1(text), text };
      // Scripts repeat (a client's few scripts, called again and again); a large one-off is not kept.
      if (script.length <= MAX_KEPT_SCRIPT_CHARS) {
        if (this.#prepared.size >= 1000) this.#prepared.delete(this.#prepared.keys().next().value as string);
        this.#prepared.set(script, prepared);
      }
    }
    this.remember(prepared.sha, prepared.redisSha);
    return prepared;
  }

  /**
   * The text Redis runs: the shebang without flags Redis does not know, then the sandbox around
   * the script (which then answers with its call count: `scriptReply` in sandbox.ts).
   */
  rewrite(script: string): string {
    const match = SHEBANG.exec(script);
    if (!match) return this.#preamble + script + SCRIPT_END;
    const flags = (match[1] ?? '')
      .split(',')
      .map((f) => f.trim())
      .filter((f) => REDIS_FLAGS.has(f));
    const shebang = flags.length > 0 ? `#!lua flags=${flags.join(',')}` : '#!lua';
    return `${shebang}${match[2] || '\n'}${this.#preamble}${script.slice(match[0].length)}${SCRIPT_END}`;
  }

  /** The SHA under which Redis holds the script this database knows as `sha`, if it loaded it. */
  redisSha(sha: string): string | undefined {
    return this.#redisSha.get(sha.toLowerCase());
  }

  remember(sha: string, redisSha: string): void {
    if (this.#redisSha.has(sha)) return;
    if (this.#redisSha.size >= this.limit)
      this.#redisSha.delete(this.#redisSha.keys().next().value as string);
    this.#redisSha.set(sha, redisSha);
  }

  /** SCRIPT FLUSH: this database forgets every script. */
  clear(): void {
    this.#redisSha.clear();
  }

  /** Puts the client's SHA back where a Redis error names the script by Redis's SHA. */
  errorText(message: string, prepared: { sha: string; redisSha: string }): string {
    return message.includes(prepared.redisSha)
      ? message.split(prepared.redisSha).join(prepared.sha)
      : message;
  }
}
