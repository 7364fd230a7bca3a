import { describe, expect, it } from 'vitest';
import { BlockedCache } from '../../../../../lambda/services/rate-limit/blocked-cache';

describe('BlockedCache', () => {
  it('answers until the reset, then forgets', () => {
    const cache = new BlockedCache();
    cache.block('k', 100, 0);
    expect(cache.blockedUntil('k', 99)).toBe(100);
    expect(cache.blockedUntil('k', 100)).toBeNull();
    expect(cache.size).toBe(0);
  });

  it('stays bounded: sweeps expired entries, then drops the soonest to expire', () => {
    const cache = new BlockedCache(2);
    cache.block('a', 50, 0);
    cache.block('b', 500, 0);
    cache.block('c', 300, 100); // 'a' expired at 100: swept
    expect(cache.size).toBe(2);
    cache.block('d', 400, 100); // full of live ones: 'c' (soonest) goes
    expect(cache.blockedUntil('c', 100)).toBeNull();
    expect(cache.blockedUntil('b', 100)).toBe(500);
    expect(cache.blockedUntil('d', 100)).toBe(400);
  });

  it('unblocks on demand and ignores resets in the past', () => {
    const cache = new BlockedCache();
    cache.block('k', 10, 20);
    expect(cache.size).toBe(0);
    cache.block('k', 100, 0);
    cache.unblock('k');
    expect(cache.blockedUntil('k', 0)).toBeNull();
  });
});
