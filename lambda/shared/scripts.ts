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
  /**
   * The exact text sent to each kind of server, with its SHA-1: the shebang for that kind and
   * the body inside the call-counting wrapper (see {@link countingWrapper}).
   */
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

/**
 * Upstash bills a script as one command plus every command it runs, and the number it runs
 * depends on the data (a rate-limit check that refuses runs fewer). So every script counts its
 * own calls: the body runs inside a function whose `redis.call`/`redis.pcall` go through a
 * counter, and the script answers `{calls, reply}`; {@link runScript} hands the caller `reply`,
 * the client layer reads `calls` (`lambda/shared/usage.ts`). Plain Lua 5.1 (a local function and
 * an anonymous one), no metatables. An error reply (`redis.error_reply`) is passed through as
 * is: it stays an error, and its inner calls go uncounted.
 */
export function countingWrapper(source: string): string {
  const body = source.replace(/\bredis\.(p?call)\(/g, '__$1(');
  return `local __calls = 0
local function __call(...) __calls = __calls + 1 return redis.call(...) end
local function __pcall(...) __calls = __calls + 1 return redis.pcall(...) end
local __reply = (function()
${body}
end)()
if type(__reply) == 'table' and __reply.err then return __reply end
return { __calls, __reply }
`;
}

// Every declared script by the SHA-1 and by the text of each variant, so a client that forwards a
// script to a server of another kind (the migration router) can send that server's variant, and
// the usage meter knows which replies carry a call count.
const bySha = new Map<string, LuaScript>();
const byText = new Map<string, LuaScript>();

/**
 * Declares a script. Its variants and their SHA-1s are computed on first use, not at module load:
 * a handler imports every script of the services it may call, and a cold start runs few of them.
 * A script is in the lookups ({@link scriptBySha}, {@link scriptByText}) from then on, which is
 * before any of its text or SHA-1 can have been sent.
 */
export function defineScript(name: string, source: string): LuaScript {
  let variants: LuaScript['variants'] | undefined;
  const script: LuaScript = {
    name,
    source,
    get variants() {
      if (!variants) {
        const wrapped = countingWrapper(source);
        const variant = (kind: ServerKind) => {
          const text = SHEBANG[kind] + wrapped;
          return { text, sha: sha1(text) };
        };
        variants = { upstash: variant('upstash'), redis: variant('redis') };
        for (const { sha, text } of Object.values(variants)) {
          bySha.set(sha, script);
          byText.set(text, script);
        }
      }
      return variants;
    },
  };
  return script;
}

/** The declared script one of whose variants has this SHA-1, if any. */
export const scriptBySha = (sha: string): LuaScript | undefined => bySha.get(sha);

/** The declared script one of whose variants is exactly this text, if any. */
export const scriptByText = (text: string): LuaScript | undefined => byText.get(text);

/**
 * The inner calls a declared script reported in its reply (`{calls, reply}`), or `undefined`
 * when `reply` is not such a reply.
 */
export function innerCallsOf(reply: unknown): number | undefined {
  return Array.isArray(reply) && Number.isSafeInteger(reply[0]) && (reply[0] as number) >= 0
    ? (reply[0] as number)
    : undefined;
}

/** A script's text for a server of `kind`, from the text meant for any kind (the shebang differs). */
export const scriptTextFor = (text: string, kind: ServerKind): string =>
  SHEBANG[kind] + text.replace(/^#!lua[^\n]*\n/, '');

const isNoScript = (error: unknown): boolean => error instanceof Error && /NOSCRIPT/i.test(error.message);

/** The script's own reply, out of the `{calls, reply}` its counting wrapper answers. */
function unwrap(script: LuaScript, raw: unknown): unknown {
  if (innerCallsOf(raw) === undefined) {
    throw new Error(`script ${script.name} answered without its call count: the server ran other text`);
  }
  return (raw as unknown[])[1] ?? null;
}

/**
 * Sends a declared script to `redis` in the variant for its kind of server: EVALSHA, and EVAL
 * when the server does not know it yet (`NOSCRIPT`). Resolves to the raw reply (with the call
 * count of the wrapper). The one EVALSHA→EVAL path: {@link runScript} and the migration router
 * (which sends each side its own variant) both go through it.
 */
export async function evalScript(
  redis: RedisLike,
  script: LuaScript,
  keys: readonly string[],
  args: readonly string[],
): Promise<unknown> {
  const { text, sha } = script.variants[redis.kind];
  try {
    return await redis.evalsha(sha, keys, args);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    return redis.eval(text, keys, args);
  }
}

/**
 * Runs a script with EVALSHA, falling back to EVAL when the server does not know it yet. The
 * steady state is one command and one round trip; only the first call per server pays two.
 * Arguments are strings, as Redis sees them; numbers are converted by the caller. Resolves to
 * the script's own reply (the call count its wrapper adds is removed).
 */
export async function runScript<T = unknown>(
  redis: RedisLike,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<T> {
  return unwrap(script, await evalScript(redis, script, keys, args.map(String))) as T;
}
