import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RedisLike } from '../../../../lambda/shared/redis';
import { defineScript, runScript } from '../../../../lambda/shared/scripts';

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

describe('defineScript', () => {
  const script = defineScript('echo', 'return ARGV[1]');

  it('sends the allow-key-locking flag to Upstash only', () => {
    expect(script.variants.upstash.text).toBe('#!lua flags=allow-key-locking\nreturn ARGV[1]');
    expect(script.variants.redis.text).toBe('return ARGV[1]');
  });

  it('pins each variant SHA-1 to its exact text', () => {
    expect(script.variants.upstash.sha).toBe(sha1(script.variants.upstash.text));
    expect(script.variants.redis.sha).toBe(sha1('return ARGV[1]'));
  });
});

describe('runScript', () => {
  // A recording RedisLike: this unit test is about the call sequence, the integration tests run
  // the same helper against a real Redis.
  function recorder(kind: 'upstash' | 'redis', evalshaError?: Error) {
    const calls: string[][] = [];
    const redis = {
      kind,
      async evalsha(sha: string, keys: readonly string[], args: readonly string[]) {
        calls.push(['EVALSHA', sha, ...keys, ...args]);
        if (evalshaError) throw evalshaError;
        return 'from-evalsha';
      },
      async eval(text: string, keys: readonly string[], args: readonly string[]) {
        calls.push(['EVAL', text, ...keys, ...args]);
        return 'from-eval';
      },
    } as unknown as RedisLike;
    return { redis, calls };
  }
  const script = defineScript('echo', 'return ARGV[1]');

  it('uses EVALSHA with string arguments in the steady state', async () => {
    const { redis, calls } = recorder('upstash');
    expect(await runScript(redis, script, ['k'], [1, 'a'])).toBe('from-evalsha');
    expect(calls).toEqual([['EVALSHA', script.variants.upstash.sha, 'k', '1', 'a']]);
  });

  it('falls back to EVAL with the kind-specific text on NOSCRIPT', async () => {
    const { redis, calls } = recorder('redis', new Error('NOSCRIPT No matching script. Please use EVAL.'));
    expect(await runScript(redis, script, [], ['x'])).toBe('from-eval');
    expect(calls[1]).toEqual(['EVAL', 'return ARGV[1]', 'x']);
  });

  it('rethrows any other error without a second call', async () => {
    const { redis, calls } = recorder('upstash', new Error('WRONGTYPE Operation against a key'));
    await expect(runScript(redis, script, [], [])).rejects.toThrow('WRONGTYPE');
    expect(calls).toHaveLength(1);
  });
});
