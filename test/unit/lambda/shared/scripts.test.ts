import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RedisLike } from '../../../../lambda/shared/redis';
import {
  countingWrapper,
  defineScript,
  innerCallsOf,
  runScript,
  scriptBySha,
  scriptByText,
} from '../../../../lambda/shared/scripts';

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex');

describe('defineScript', () => {
  const script = defineScript('echo', 'return ARGV[1]');

  it('sends the allow-key-locking flag to Upstash only, the body in its counting wrapper', () => {
    expect(script.variants.upstash.text).toBe(
      `#!lua flags=allow-key-locking\n${countingWrapper('return ARGV[1]')}`,
    );
    expect(script.variants.redis.text).toBe(countingWrapper('return ARGV[1]'));
  });

  it('pins each variant SHA-1 to its exact text, and finds the script by either', () => {
    expect(script.variants.upstash.sha).toBe(sha1(script.variants.upstash.text));
    expect(script.variants.redis.sha).toBe(sha1(countingWrapper('return ARGV[1]')));
    for (const { sha, text } of Object.values(script.variants)) {
      expect(scriptBySha(sha)?.variants).toEqual(script.variants);
      expect(scriptByText(text)?.variants).toEqual(script.variants);
    }
  });
});

describe('countingWrapper', () => {
  it('routes every redis.call and redis.pcall of the body through the counter', () => {
    const wrapped = countingWrapper("local a = redis.call('GET', KEYS[1])\nreturn redis.pcall('DEL', a)");
    expect(wrapped).toContain("local a = __call('GET', KEYS[1])\nreturn __pcall('DEL', a)");
    // The counter itself still reaches the real functions.
    expect(wrapped).toContain('return redis.call(...)');
    expect(wrapped).toContain('return redis.pcall(...)');
    expect(wrapped.trimEnd().endsWith('return { __calls, __reply }')).toBe(true);
  });

  it('tells a counted reply from any other', () => {
    expect(innerCallsOf([3, 'x'])).toBe(3);
    expect(innerCallsOf([0])).toBe(0);
    for (const other of ['x', null, [], ['3', 'x'], [-1, 'x'], [1.5, 'x']]) {
      expect(innerCallsOf(other)).toBeUndefined();
    }
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
        return [1, 'from-evalsha'];
      },
      async eval(text: string, keys: readonly string[], args: readonly string[]) {
        calls.push(['EVAL', text, ...keys, ...args]);
        return [2, 'from-eval'];
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
    expect(calls[1]).toEqual(['EVAL', script.variants.redis.text, 'x']);
  });

  it('answers null for a script that returned nothing, and refuses a reply without its count', async () => {
    const nothing = { kind: 'upstash', evalsha: async () => [0] } as unknown as RedisLike;
    expect(await runScript(nothing, script, [], [])).toBeNull();
    const foreign = { kind: 'upstash', evalsha: async () => 'uncounted' } as unknown as RedisLike;
    await expect(runScript(foreign, script, [], [])).rejects.toThrow(/without its call count/);
  });

  it('rethrows any other error without a second call', async () => {
    const { redis, calls } = recorder('upstash', new Error('WRONGTYPE Operation against a key'));
    await expect(runScript(redis, script, [], [])).rejects.toThrow('WRONGTYPE');
    expect(calls).toHaveLength(1);
  });
});
