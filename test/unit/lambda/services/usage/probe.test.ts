import { describe, expect, it } from 'vitest';
import { parseInfo, probeDatabase } from '../../../../../lambda/services/usage/probe';
import type { RedisLike } from '../../../../../lambda/shared/redis';

/** A RedisLike that answers DBSIZE and INFO as told: this test is about reading the answers. */
const answering = (info: () => Promise<string>, keys = 3) =>
  ({ kind: 'upstash', dbsize: async () => keys, info }) as unknown as RedisLike;

describe('parseInfo', () => {
  it('reads field:value lines, skipping headings and blank lines', () => {
    expect(
      parseInfo('# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n\r\n# Keyspace\r\n'),
    ).toEqual({
      used_memory: '1048576',
      used_memory_human: '1.00M',
    });
  });
});

describe('probeDatabase', () => {
  it('reports keys and used_memory', async () => {
    expect(await probeDatabase(answering(async () => '# Memory\r\nused_memory:2048\r\n'))).toEqual({
      keys: 3,
      usedMemoryBytes: 2048,
    });
  });

  it('says so when the memory section has no used_memory (Upstash answers an unknown section with its heading)', async () => {
    expect(await probeDatabase(answering(async () => '# Memory\r\n'))).toEqual({
      keys: 3,
      memoryUnavailable: 'INFO memory has no used_memory',
    });
  });

  it('reports a refused INFO as memory unavailable, with the server text only', async () => {
    const refused = answering(async () => {
      throw new Error('ERR Command is not available: \'INFO\', command was: ["info","memory"]');
    });
    expect(await probeDatabase(refused)).toEqual({
      keys: 3,
      memoryUnavailable: "INFO memory refused: ERR Command is not available: 'INFO'",
    });
  });

  it('fails when the database is unreachable', async () => {
    const down = answering(async () => {
      const error = new Error('database "cache" is unavailable (ECONNREFUSED)');
      error.name = 'UpstashUnavailableError';
      throw error;
    });
    await expect(probeDatabase(down)).rejects.toThrow(/unavailable/);
  });
});
