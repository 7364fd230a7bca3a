import { createHash } from 'node:crypto';

/**
 * Shebang flags Redis 7.0 understands. Upstash adds its own (`allow-key-locking` above all,
 * which `@upstash/ratelimit` 2.2 and our runtime send); Redis 7.0 rejects a script carrying an
 * unknown flag, so the endpoint strips those before the script reaches Redis.
 */
const REDIS_FLAGS = new Set(['no-writes', 'allow-oom', 'allow-stale', 'no-cluster', 'allow-cross-slot-keys']);

const SHEBANG = /^#!lua(?:[ \t]+flags=([^\r\n]*))?[ \t]*(\r?\n|$)/;

export const sha1 = (text: string): string => createHash('sha1').update(text, 'utf8').digest('hex');

/**
 * Keeps EVAL, EVALSHA and SCRIPT working when scripts carry Upstash-only shebang flags.
 *
 * Clients compute a script's SHA over the text they send. When the endpoint rewrites that text,
 * Redis caches it under another SHA, so the endpoint remembers client SHA -> Redis SHA and
 * translates EVALSHA, SCRIPT EXISTS and SCRIPT LOAD replies. A forgotten mapping only costs a
 * NOSCRIPT, which every client answers with EVAL.
 */
export class ScriptTranslator {
  readonly #redisSha = new Map<string, string>();

  /** The text Redis should run: the shebang without flags Redis does not know. */
  rewrite(script: string): string {
    const match = SHEBANG.exec(script);
    if (!match?.[1]) return script;
    const flags = match[1]
      .split(',')
      .map((f) => f.trim())
      .filter((f) => REDIS_FLAGS.has(f));
    const shebang = flags.length > 0 ? `#!lua flags=${flags.join(',')}` : '#!lua';
    const rewritten = shebang + match[2] + script.slice(match[0].length);
    if (rewritten !== script) this.#redisSha.set(sha1(script), sha1(rewritten));
    return rewritten;
  }

  /** The SHA under which Redis knows the script a client calls `sha`. */
  redisSha(sha: string): string {
    return this.#redisSha.get(sha.toLowerCase()) ?? sha;
  }

  /** After SCRIPT FLUSH nothing Redis cached survives, and neither do the mappings. */
  clear(): void {
    this.#redisSha.clear();
  }

  /**
   * Rewrites one command on its way to Redis. Returns the arguments to send and, for
   * SCRIPT LOAD, the SHA to answer with (the client's, not Redis').
   */
  translate(args: string[]): { args: string[]; loadedSha?: string } {
    const name = args[0]?.toUpperCase();
    if ((name === 'EVAL' || name === 'EVAL_RO') && args.length > 1) {
      return { args: [args[0] as string, this.rewrite(args[1] as string), ...args.slice(2)] };
    }
    if ((name === 'EVALSHA' || name === 'EVALSHA_RO') && args.length > 1) {
      return { args: [args[0] as string, this.redisSha(args[1] as string), ...args.slice(2)] };
    }
    if (name === 'SCRIPT') {
      const sub = args[1]?.toUpperCase();
      if (sub === 'LOAD' && args.length === 3) {
        const script = args[2] as string;
        return {
          args: [args[0] as string, args[1] as string, this.rewrite(script)],
          loadedSha: sha1(script),
        };
      }
      if (sub === 'EXISTS') {
        return { args: [...args.slice(0, 2), ...args.slice(2).map((sha) => this.redisSha(sha))] };
      }
      if (sub === 'FLUSH') this.clear();
    }
    return { args };
  }
}
