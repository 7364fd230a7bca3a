import type { RedisLike } from '../../shared/redis';

/**
 * What a database tells about its own size, through the commands Upstash answers over REST:
 * `DBSIZE` (keys) and `INFO memory` (`used_memory`). Upstash documents INFO's sections server,
 * clients, memory, stats, cluster and keyspace, and answers a section it does not support with its
 * heading only; so memory is optional here, and a database that does not report it is said to.
 */
export interface ProbeResult {
  /** Keys in the database (`DBSIZE`). */
  readonly keys: number;
  /** `used_memory` of `INFO memory`, in bytes; absent when the database did not report it. */
  readonly usedMemoryBytes?: number;
  /** Why memory is absent: the section was empty, or INFO was refused (`ERR ...`). */
  readonly memoryUnavailable?: string;
}

/** The `field:value` lines of an INFO reply (section headings and blank lines skipped). */
export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.indexOf(':');
    if (at > 0) fields[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  return fields;
}

/**
 * A Redis error reply (`ERR ...`, `NOPERM ...`: the server answered and refused), as opposed to an
 * outage or a credentials failure, which the client layer raises as its own errors.
 */
const isReplyError = (error: unknown): boolean =>
  error instanceof Error &&
  /^[A-Z][A-Z_]+ /.test(error.message) &&
  !['UpstashUnavailableError', 'CredentialsError'].includes(error.name);

/**
 * Reads one database's size: 2 commands (billed like any). An INFO the server refuses is
 * reported as memory unavailable; an unreachable database throws.
 */
export async function probeDatabase(redis: RedisLike): Promise<ProbeResult> {
  if (!redis.dbsize || !redis.info) throw new Error('this client cannot run DBSIZE and INFO');
  const [keys, memory] = await Promise.all([
    redis.dbsize(),
    redis.info('memory').then(
      (text) => ({ text }),
      (error: unknown) => {
        if (!isReplyError(error)) throw error;
        // The server's own text, up to the SDK's `, command was:` suffix.
        return { refused: (error as Error).message.split(', command was:')[0] as string };
      },
    ),
  ]);
  if ('refused' in memory) return { keys, memoryUnavailable: `INFO memory refused: ${memory.refused}` };
  const used = Number(parseInfo(memory.text).used_memory);
  return Number.isSafeInteger(used) && used >= 0
    ? { keys, usedMemoryBytes: used }
    : { keys, memoryUnavailable: 'INFO memory has no used_memory' };
}
