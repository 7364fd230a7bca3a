import { globToRegExp } from './glob';
import {
  CONFIG_PARAMETER,
  channelPrefix,
  DB_OUT_OF_RANGE,
  functionPrefixes,
  NOT_AVAILABLE,
  notAvailable,
  SUBCOMMANDS,
} from './policy';
import { type Reply, RespError } from './resp';
import { restoreLibrary, rewriteLibrary } from './sandbox';
import type { ScriptCache } from './scripts';

/** Sends commands to the database's Redis and resolves with their replies, in order. */
export type Send = (commands: readonly (readonly string[])[]) => Promise<Reply[]>;

/** How the endpoint answers one command. */
export type Plan =
  /**
   * Send `args` to Redis; `post` turns Redis's reply (or error) into the client's. `script`: a
   * sandboxed script, whose reply carries its call count first (`scriptReply` in sandbox.ts).
   */
  | {
      readonly kind: 'send';
      readonly args: readonly string[];
      readonly post?: (reply: Reply) => Reply;
      readonly script?: true;
    }
  /** Answered by the endpoint without Redis (an error reply is a {@link RespError}). */
  | { readonly kind: 'local'; readonly reply: Reply }
  /** Refused: an error in its place, and a transaction holding it is discarded whole. */
  | { readonly kind: 'refuse'; readonly message: string }
  /** Needs several round trips (not inside a transaction). */
  | { readonly kind: 'steps'; readonly run: (send: Send) => Promise<Reply> };

/** The database's pub/sub channels, as pubsub.ts keeps them. */
export interface ChannelScope {
  /** The Redis channel (or pattern) a client's channel name stands for. */
  redisName(name: string): string;
  /** The client's channel name for a Redis channel of this database (undefined: not one). */
  clientName(redisName: string): string | undefined;
  /** PUBLISH's reply counting this endpoint's subscribers one by one, as Upstash does. */
  receivers(redisChannel: string, redisCount: number): number;
  /** PUBSUB NUMSUB's count for one channel, on the same terms. */
  subscribers(redisChannel: string, redisCount: number): number;
  /** Patterns this database's subscribers hold (PUBSUB NUMPAT). */
  patterns(): number;
}

/** What planning a command needs to know about its database. */
export interface CommandScope {
  readonly db: number;
  readonly scripts: ScriptCache;
  readonly channels: ChannelScope;
}

type Handler = (scope: CommandScope, args: readonly string[], name: string) => Plan;

const OK = Buffer.from('OK');
const NOSCRIPT = new RespError('NOSCRIPT No matching script. Please use EVAL.');

const send = (args: readonly string[], post?: (reply: Reply) => Reply): Plan => ({
  kind: 'send',
  args,
  post,
});
const local = (reply: Reply): Plan => ({ kind: 'local', reply });
const refuse = (message: string): Plan => ({ kind: 'refuse', message });
const error = (message: string): Plan => local(new RespError(message));

const upper = (value: string | undefined): string => (value ?? '').toUpperCase();
const text = (reply: Reply): string | undefined =>
  Buffer.isBuffer(reply) ? reply.toString('utf8') : undefined;

/** Applies `fix` to the text of an error reply and leaves any other reply alone. */
const fixError =
  (fix: (message: string) => string) =>
  (reply: Reply): Reply =>
    reply instanceof RespError ? new RespError(fix(reply.message)) : reply;

const HANDLERS = new Map<string, Handler>();
for (const name of NOT_AVAILABLE) HANDLERS.set(name, (_s, args) => refuse(notAvailable(args[0] as string)));

/** Commands with an allow-list of subcommands; `serve` answers the allowed ones. */
function container(name: string, serve: Handler = (_s, args) => send(args)): void {
  const allowed = new Set(SUBCOMMANDS[name]);
  HANDLERS.set(name, (scope, args, upperName) => {
    if (args.length < 2) return send(args);
    if (!allowed.has(upper(args[1]))) return refuse(notAvailable(`${args[0]} ${args[1]}`));
    return serve(scope, args, upperName);
  });
}

container('ACL');
container('MEMORY');

// CONFIG: Upstash exposes notify-keyspace-events alone. Here it is the shared server's setting,
// so one token's CONFIG SET applies to every database (docs/local.md); events stay per database.
container('CONFIG', (_scope, args) => {
  const sub = upper(args[1]);
  if (sub === 'GET') {
    if (args.length < 3) return send(args);
    const wanted = args.slice(2).some((p) => globToRegExp(p, true).test(CONFIG_PARAMETER));
    return wanted ? send(['CONFIG', 'GET', CONFIG_PARAMETER]) : local([]);
  }
  if (sub === 'SET') {
    if (args.length < 4 || args.length % 2 !== 0) {
      return error("ERR wrong number of arguments for 'config|set' command");
    }
    for (let i = 2; i < args.length; i += 2) {
      if ((args[i] as string).toLowerCase() !== CONFIG_PARAMETER) {
        return error(`ERR Unknown option or number of arguments for CONFIG SET - '${args[i]}'`);
      }
    }
    return send(args);
  }
  return send(args);
});

// Scripts: EVAL and SCRIPT LOAD rewrite the script (sandbox, flags) and keep the client's SHA.
const scriptError = (sha: string, redisSha: string, scripts: ScriptCache) =>
  fixError((m) => scripts.errorText(m, { sha, redisSha }));

for (const name of ['EVAL', 'EVAL_RO']) {
  HANDLERS.set(name, (scope, args) => {
    if (args.length < 2) return send(args);
    const prepared = scope.scripts.prepare(args[1] as string);
    return {
      ...send(
        [args[0] as string, prepared.text, ...args.slice(2)],
        scriptError(prepared.sha, prepared.redisSha, scope.scripts),
      ),
      script: true,
    };
  });
}
for (const name of ['EVALSHA', 'EVALSHA_RO']) {
  HANDLERS.set(name, (scope, args) => {
    if (args.length < 2) return send(args);
    const sha = (args[1] as string).toLowerCase();
    const redisSha = scope.scripts.redisSha(sha);
    if (!redisSha) return local(NOSCRIPT);
    return {
      ...send([args[0] as string, redisSha, ...args.slice(2)], scriptError(sha, redisSha, scope.scripts)),
      script: true,
    };
  });
}

container('SCRIPT', (scope, args) => {
  const sub = upper(args[1]);
  if (sub === 'LOAD' && args.length === 3) {
    const prepared = scope.scripts.prepare(args[2] as string);
    return send(['SCRIPT', 'LOAD', prepared.text], (reply) =>
      reply instanceof RespError
        ? new RespError(scope.scripts.errorText(reply.message, prepared))
        : Buffer.from(prepared.sha),
    );
  }
  if (sub === 'EXISTS' && args.length > 2) {
    const shas = args.slice(2).map((sha) => scope.scripts.redisSha(sha));
    const known = shas.filter((sha): sha is string => sha !== undefined);
    if (known.length === 0) return local(shas.map(() => 0));
    return send(['SCRIPT', 'EXISTS', ...known], (reply) => {
      if (!Array.isArray(reply)) return reply;
      let next = 0;
      return shas.map((sha) => (sha === undefined ? 0 : (reply[next++] ?? 0)));
    });
  }
  if (sub === 'FLUSH') {
    const mode = upper(args[2]);
    if (args.length > 3 || (args.length === 3 && mode !== 'ASYNC' && mode !== 'SYNC')) {
      return error('ERR SCRIPT FLUSH only support SYNC|ASYNC option');
    }
    // Redis's script cache is shared by every database: this one forgets its scripts instead.
    scope.scripts.clear();
    return local(OK);
  }
  return send(args);
});

// Functions: libraries and functions live under the database's prefixes (policy.ts).
container('FUNCTION', (scope, args) => {
  const { write, readOnly } = functionPrefixes(scope.db);
  const unprefix = fixError((m) => m.split(`'${write}`).join("'"));
  const sub = upper(args[1]);
  if (sub === 'LOAD') {
    const replace = args.length === 4 && upper(args[2]) === 'REPLACE';
    if (args.length !== 3 && !replace) return send(args);
    const rewritten = rewriteLibrary(args[args.length - 1] as string, scope.db);
    if (!rewritten) return send(args);
    return send([...args.slice(0, -1), rewritten.code], (reply) =>
      Buffer.isBuffer(reply) ? Buffer.from(rewritten.name) : unprefix(reply),
    );
  }
  if (sub === 'DELETE' && args.length === 3) return send(['FUNCTION', 'DELETE', write + args[2]]);
  if (sub === 'LIST') {
    let pattern = '*';
    let withCode = false;
    for (let i = 2; i < args.length; i++) {
      const option = upper(args[i]);
      if (option === 'WITHCODE') withCode = true;
      else if (option === 'LIBRARYNAME' && i + 1 < args.length) pattern = args[++i] as string;
      else return send(args);
    }
    const list = ['FUNCTION', 'LIST', 'LIBRARYNAME', write + pattern, ...(withCode ? ['WITHCODE'] : [])];
    return send(list, (reply) => ownLibraries(reply, scope.db));
  }
  if (sub === 'FLUSH') {
    const mode = upper(args[2]);
    if (args.length > 3 || (args.length === 3 && mode !== 'ASYNC' && mode !== 'SYNC')) return send(args);
    return {
      kind: 'steps',
      run: async (redis) => {
        const [listed] = await redis([['FUNCTION', 'LIST', 'LIBRARYNAME', `${write}*`]]);
        const names = libraryNames(listed);
        if (names.length > 0) await redis(names.map((name) => ['FUNCTION', 'DELETE', name]));
        return OK;
      },
    };
  }
  if (sub === 'STATS' && args.length === 2) {
    return {
      kind: 'steps',
      run: async (redis) => {
        const [stats, listed] = await redis([
          ['FUNCTION', 'STATS'],
          ['FUNCTION', 'LIST', 'LIBRARYNAME', `${write}*`],
        ]);
        const libraries = ownLibraries(listed ?? [], scope.db);
        if (!Array.isArray(libraries)) return libraries;
        const functions = libraries.reduce<number>((n, lib) => n + ownFunctions(lib).length, 0);
        return [
          Buffer.from('running_script'),
          runningScript(stats ?? null, write, readOnly),
          Buffer.from('engines'),
          [
            Buffer.from('LUA'),
            [Buffer.from('libraries_count'), libraries.length, Buffer.from('functions_count'), functions],
          ],
        ];
      },
    };
  }
  return send(args);
});

for (const [name, readOnlyCall] of [
  ['FCALL', false],
  ['FCALL_RO', true],
] as const) {
  HANDLERS.set(name, (scope, args) => {
    if (args.length < 3) return send(args);
    const { write, readOnly } = functionPrefixes(scope.db);
    const prefix = readOnlyCall ? readOnly : write;
    return send(
      [args[0] as string, prefix + args[1], ...args.slice(2)],
      fixError((m) => m.split(`script: ${prefix}`).join('script: ')),
    );
  });
}

// Pub/sub: a database publishes into its own namespace (policy.ts channelPrefix).
HANDLERS.set('PUBLISH', (scope, args) => {
  if (args.length !== 3) return send(args);
  const channel = scope.channels.redisName(args[1] as string);
  return send([args[0] as string, channel, args[2] as string], (reply) =>
    typeof reply === 'number' ? scope.channels.receivers(channel, reply) : reply,
  );
});
HANDLERS.set('SPUBLISH', (scope, args) =>
  args.length === 3
    ? send([args[0] as string, channelPrefix(scope.db) + args[1], args[2] as string])
    : send(args),
);
container('PUBSUB', (scope, args) => {
  const sub = upper(args[1]);
  const prefix = channelPrefix(scope.db);
  const strip = (reply: Reply): Reply =>
    Array.isArray(reply)
      ? reply.flatMap((name) => {
          const own = Buffer.isBuffer(name) ? scope.channels.clientName(name.toString('utf8')) : undefined;
          return own === undefined ? [] : [Buffer.from(own)];
        })
      : reply;
  if ((sub === 'CHANNELS' || sub === 'SHARDCHANNELS') && args.length <= 3) {
    return send([args[0] as string, args[1] as string, prefix + (args[2] ?? '*')], strip);
  }
  if (sub === 'NUMSUB' || sub === 'SHARDNUMSUB') {
    const names = args.slice(2);
    const redisNames = names.map((n) => (sub === 'NUMSUB' ? scope.channels.redisName(n) : prefix + n));
    return send([args[0] as string, args[1] as string, ...redisNames], (reply) => {
      if (!Array.isArray(reply)) return reply;
      return names.flatMap((name, i) => {
        const count = reply[i * 2 + 1];
        const n = typeof count === 'number' ? count : 0;
        return [
          Buffer.from(name),
          sub === 'NUMSUB' ? scope.channels.subscribers(redisNames[i] as string, n) : n,
        ];
      });
    });
  }
  if (sub === 'NUMPAT' && args.length === 2) return local(scope.channels.patterns());
  return send(args);
});

// INFO: the keyspace section shows this database alone, as database 0.
HANDLERS.set('INFO', (scope, args) =>
  send(args, (reply) => {
    const info = text(reply);
    if (info === undefined) return reply;
    return Buffer.from(
      info.replace(/^db(\d+):([^\r\n]*)\r\n/gm, (_line, db: string, rest: string) =>
        Number(db) === scope.db ? `db0:${rest}\r\n` : '',
      ),
    );
  }),
);

HANDLERS.set('FLUSHALL', (_scope, args) => send(['FLUSHDB', ...args.slice(1)]));

// COPY: DB names the token's only database (0) or nothing; `COPY k k` answers 0, as on Upstash.
HANDLERS.set('COPY', (_scope, args) => {
  if (args.length < 3) return send(args);
  const out = args.slice(0, 3);
  let plain = true;
  for (let i = 3; i < args.length; i++) {
    const option = upper(args[i]);
    if (option === 'DB' && i + 1 < args.length) {
      if (args[i + 1] !== '0') return error(DB_OUT_OF_RANGE);
      i += 1;
    } else {
      if (option !== 'REPLACE') plain = false;
      out.push(args[i] as string);
    }
  }
  if (plain && args[1] === args[2]) return local(0);
  return send(out);
});

// Blocking reads would hold the connection every request shares.
for (const name of ['XREAD', 'XREADGROUP']) {
  HANDLERS.set(name, (_scope, args) =>
    args.some((a) => upper(a) === 'BLOCK') ? refuse(notAvailable(`${args[0]} BLOCK`)) : send(args),
  );
}

/**
 * Upstash's `SCAN <cursor> ... WITHTYPE`: the reply's second element lists each key followed by
 * its type. Done in one script so the types are those of the keys as scanned.
 */
export const SCAN_WITH_TYPE_SCRIPT =
  "local r=redis.call('SCAN',unpack(ARGV)) local o={} for i=1,#r[2] do local k=r[2][i] o[#o+1]=k o[#o+1]=redis.call('TYPE',k).ok end return {r[1],o}";

HANDLERS.set('SCAN', (_scope, args) => {
  const rest: string[] = [];
  let withType = false;
  for (let i = 2; i < args.length; i++) {
    const option = upper(args[i]);
    if (option === 'WITHTYPE') withType = true;
    else {
      rest.push(args[i] as string);
      if ((option === 'MATCH' || option === 'COUNT' || option === 'TYPE') && i + 1 < args.length) {
        rest.push(args[++i] as string);
      }
    }
  }
  if (!withType || args.length < 2) return send(args);
  return send(['EVAL', SCAN_WITH_TYPE_SCRIPT, '0', args[1] as string, ...rest], (reply) =>
    reply instanceof RespError
      ? new RespError(reply.message.replace(/ script: [0-9a-f]{40}, on @user_script:1\.$/, ''))
      : reply,
  );
});

const NAMES = new Map<string, string>();

/**
 * A command name in upper case. Names repeat (a pipeline of 500,000 INCRs has one), so they are
 * kept rather than upper-cased again each time.
 */
export function commandName(name: string): string {
  let upperName = NAMES.get(name);
  if (upperName === undefined) {
    upperName = name.toUpperCase();
    if (NAMES.size < 10_000) NAMES.set(name, upperName);
  }
  return upperName;
}

/**
 * How the endpoint answers `args` (the command name first) for a database, or undefined when the
 * command goes to Redis as it is, which most do; the table above refuses or narrows the rest.
 */
export function planCommand(scope: CommandScope, args: readonly string[]): Plan | undefined {
  const name = commandName(args[0] as string);
  const handler = HANDLERS.get(name);
  return handler ? handler(scope, args, name) : undefined;
}

// ---------------------------------------------------------------- FUNCTION LIST rewriting

/** A RESP2 flat key/value array's value for `key`. */
function field(entry: Reply, key: string): Reply | undefined {
  if (!Array.isArray(entry)) return undefined;
  for (let i = 0; i + 1 < entry.length; i += 2) {
    if (text(entry[i] as Reply) === key) return entry[i + 1];
  }
  return undefined;
}

function libraryNames(listed: Reply | undefined): string[] {
  if (!Array.isArray(listed)) return [];
  return listed.flatMap((lib) => {
    const name = text(field(lib, 'library_name') ?? null);
    return name === undefined ? [] : [name];
  });
}

function ownFunctions(library: Reply): Reply[] {
  const functions = field(library, 'functions');
  return Array.isArray(functions) ? functions : [];
}

/**
 * FUNCTION LIST as the database's token sees it: its own libraries, their names and functions
 * without the prefixes, the read-only twins hidden, the code as the client loaded it.
 */
function ownLibraries(reply: Reply, db: number): Reply {
  if (!Array.isArray(reply)) return reply;
  const { write } = functionPrefixes(db);
  const unprefixed = (value: Reply | undefined): Reply | undefined => {
    const name = text(value ?? null);
    return name?.startsWith(write) ? Buffer.from(name.slice(write.length)) : undefined;
  };
  return reply.flatMap((library) => {
    if (!Array.isArray(library) || unprefixed(field(library, 'library_name')) === undefined) return [];
    const out: Reply[] = [];
    for (let i = 0; i + 1 < library.length; i += 2) {
      const key = text(library[i] as Reply);
      const value = library[i + 1] as Reply;
      out.push(library[i] as Reply);
      if (key === 'library_name') out.push(unprefixed(value) as Reply);
      else if (key === 'library_code') out.push(Buffer.from(restoreLibrary(text(value) ?? '', db)));
      else if (key === 'functions' && Array.isArray(value)) {
        out.push(
          value.flatMap((fn) => {
            const name = unprefixed(field(fn, 'name'));
            if (name === undefined || !Array.isArray(fn)) return [];
            return [fn.map((v, j) => (j > 0 && text(fn[j - 1] as Reply) === 'name' ? name : v))];
          }),
        );
      } else out.push(value);
    }
    return [out];
  });
}

/** FUNCTION STATS' running script, shown only when it is one of this database's functions. */
function runningScript(stats: Reply, write: string, readOnly: string): Reply {
  const running = field(stats, 'running_script');
  if (!Array.isArray(running)) return null;
  const name = text(field(running, 'name') ?? null);
  const prefix = name?.startsWith(write) ? write : name?.startsWith(readOnly) ? readOnly : undefined;
  if (!name || !prefix) return null;
  return running.map((v, j) =>
    j > 0 && text(running[j - 1] as Reply) === 'name' ? Buffer.from(name.slice(prefix.length)) : v,
  );
}
