import { createHash } from 'node:crypto';
import type { RedisLike, ServerKind } from './redis';

/**
 * A Lua script of the runtime. Declare one per decision with {@link defineScript} in the
 * feature's `scripts.ts`, with its KEYS and ARGV documented, and run it with {@link runScript}.
 */
export interface LuaScript {
  /** Name for logs and errors. */
  readonly name: string;
  /** The Lua body, without shebang. Every key it touches must come in KEYS. */
  readonly source: string;
  /** The exact text sent to each kind of server, with its SHA-1. */
  readonly variants: Readonly<Record<ServerKind, { readonly text: string; readonly sha: string }>>;
}

/**
 * On Upstash a script without `allow-key-locking` takes a global lock; a plain Redis rejects the
 * flag (`ERR Unexpected flag in script shebang`). So the text depends on the server kind.
 */
const SHEBANG: Record<ServerKind, string> = {
  upstash: '#!lua flags=allow-key-locking\n',
  redis: '',
};

const sha1 = (text: string): string => createHash('sha1').update(text, 'utf8').digest('hex');

// Every declared script by the SHA-1 of each variant, so a client that forwards a script to a
// server of another kind (the migration router) can send that server's variant.
const bySha = new Map<string, LuaScript>();

/** Declares a script; its SHA-1s are computed once, at module load. */
export function defineScript(name: string, source: string): LuaScript {
  const variant = (kind: ServerKind) => {
    const text = SHEBANG[kind] + source;
    return { text, sha: sha1(text) };
  };
  const script: LuaScript = {
    name,
    source,
    variants: { upstash: variant('upstash'), redis: variant('redis') },
  };
  bySha.set(script.variants.upstash.sha, script);
  bySha.set(script.variants.redis.sha, script);
  return script;
}

/** The declared script one of whose variants has this SHA-1, if any. */
export const scriptBySha = (sha: string): LuaScript | undefined => bySha.get(sha);

/** A script's text for a server of `kind`, from the text meant for any kind (the shebang differs). */
export const scriptTextFor = (text: string, kind: ServerKind): string =>
  SHEBANG[kind] + text.replace(/^#!lua[^\n]*\n/, '');

const isNoScript = (error: unknown): boolean => error instanceof Error && /NOSCRIPT/i.test(error.message);

/**
 * Runs a script with EVALSHA, falling back to EVAL when the server does not know it yet. The
 * steady state is one command and one round trip; only the first call per server pays two.
 * Arguments are strings, as Redis sees them; numbers are converted by the caller.
 */
export async function runScript<T = unknown>(
  redis: RedisLike,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<T> {
  const { text, sha } = script.variants[redis.kind];
  const argv = args.map(String);
  try {
    return (await redis.evalsha(sha, keys, argv)) as T;
  } catch (error) {
    if (!isNoScript(error)) throw error;
    return (await redis.eval(text, keys, argv)) as T;
  }
}
