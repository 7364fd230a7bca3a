/**
 * What a token may run: one table for the endpoint's top-level commands and for the Lua sandbox
 * that runs inside scripts and functions (sandbox.ts builds its Lua from these lists), so both
 * paths refuse the same commands with the same text.
 *
 * On Upstash a token is one logical database (index 0) with no reach into the server. Locally
 * every token shares one redis-server (a database index each), so anything that reaches another
 * database, the server's configuration or its users is refused, and the few commands that name a
 * database are narrowed to the token's own.
 */

/**
 * Refused outright, at the top level and inside scripts. Upstash's REST API runs no connection,
 * blocking, transaction-control or subscription commands (its compatibility table: "Connection:
 * only PING and ECHO", no blocking commands, no WATCH/MULTI over REST, pub/sub through its SSE
 * paths); the rest reach past one database: other databases (SELECT, SWAPDB, MOVE, MIGRATE), the
 * server (DEBUG, SHUTDOWN, replication, persistence, modules, cluster), or every client's traffic
 * (MONITOR, SLOWLOG, LATENCY, CLIENT).
 */
export const NOT_AVAILABLE: readonly string[] = [
  'ASKING',
  'AUTH',
  'BGREWRITEAOF',
  'BGSAVE',
  'BLMOVE',
  'BLMPOP',
  'BLPOP',
  'BRPOP',
  'BRPOPLPUSH',
  'BZMPOP',
  'BZPOPMAX',
  'BZPOPMIN',
  'CLIENT',
  'CLUSTER',
  'DEBUG',
  'DISCARD',
  'EXEC',
  'FAILOVER',
  'HELLO',
  'LATENCY',
  'MIGRATE',
  'MODULE',
  'MONITOR',
  'MOVE',
  'MULTI',
  'PFDEBUG',
  'PFSELFTEST',
  'PSUBSCRIBE',
  'PSYNC',
  'PUNSUBSCRIBE',
  'QUIT',
  'READONLY',
  'READWRITE',
  'REPLCONF',
  'REPLICAOF',
  'RESET',
  'RESTORE-ASKING',
  'ROLE',
  'SAVE',
  'SELECT',
  'SHUTDOWN',
  'SLAVEOF',
  'SLOWLOG',
  'SSUBSCRIBE',
  'SUBSCRIBE',
  'SUNSUBSCRIBE',
  'SWAPDB',
  'SYNC',
  'UNSUBSCRIBE',
  'UNWATCH',
  'WAIT',
  'WAITAOF',
  'WATCH',
];

/**
 * Refused inside scripts besides {@link NOT_AVAILABLE}: what the top level answers from the
 * endpoint's own state (server configuration, users, channel counts), which a script cannot reach
 * through it.
 */
export const NOT_AVAILABLE_IN_SCRIPTS: readonly string[] = ['ACL', 'CONFIG', 'PUBSUB'];

/**
 * Commands with subcommands where only some subcommands are served; the others are refused as
 * `'<COMMAND> <SUBCOMMAND>'`. CONFIG is narrowed further in commands.ts, to the one parameter
 * Upstash exposes.
 */
export const SUBCOMMANDS: Readonly<Record<string, readonly string[]>> = {
  // Upstash's ACL is per database; here the server's users are not the token's to see.
  ACL: ['CAT', 'GENPASS', 'HELP', 'WHOAMI'],
  CONFIG: ['GET', 'HELP', 'SET'],
  // Upstash answers MEMORY STATS with "Command is not available"; server-wide figures here.
  MEMORY: ['HELP', 'USAGE'],
  // DEBUG is the Lua debugger, which needs a connection of its own.
  SCRIPT: ['EXISTS', 'FLUSH', 'HELP', 'KILL', 'LOAD'],
  // DUMP and RESTORE carry every database's libraries; Upstash does not list them either.
  FUNCTION: ['DELETE', 'FLUSH', 'HELP', 'KILL', 'LIST', 'LOAD', 'STATS'],
  PUBSUB: ['CHANNELS', 'HELP', 'NUMPAT', 'NUMSUB', 'SHARDCHANNELS', 'SHARDNUMSUB'],
};

/** The only configuration parameter Upstash lets CONFIG GET / CONFIG SET reach. */
export const CONFIG_PARAMETER = 'notify-keyspace-events';

/** Upstash's text for a command it does not serve (as its console and SDK users report it). */
export const notAvailable = (name: string): string => `ERR Command is not available: '${name}'`;

/** Redis's own text when a command names a database other than the token's. */
export const DB_OUT_OF_RANGE = 'ERR DB index is out of range';

/**
 * Prefix of every pub/sub channel a database uses on the shared Redis: a token publishes and
 * subscribes inside its own namespace, as each Upstash database has its own channels. Contains
 * no glob character, so it also prefixes patterns as is.
 */
export const channelPrefix = (db: number): string => `__upstash_db${db}__:`;

/**
 * Prefixes of a database's function libraries and functions on the shared Redis (functions are
 * server-wide in Redis): `u<db>_` for libraries and functions, `u<db>ro_` for the read-only twin
 * each function gets so that FCALL_RO runs functions that only read, as on Upstash. No name with
 * one prefix can equal a name with another (the characters after the digits differ).
 */
export const functionPrefixes = (db: number): { readonly write: string; readonly readOnly: string } => ({
  write: `u${db}_`,
  readOnly: `u${db}ro_`,
});
