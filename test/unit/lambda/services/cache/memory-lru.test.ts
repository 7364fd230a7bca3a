import { describe, expect, it } from 'vitest';
import { MemoryLru } from '../../../../../lambda/services/cache/memory-lru';

describe('MemoryLru', () => {
  it('evicts the least recently used beyond maxEntries', () => {
    const lru = new MemoryLru(2, 1_000_000);
    lru.set('a', '1', 1000);
    lru.set('b', '2', 1000);
    lru.get('a', 0); // 'b' is now the least recent
    lru.set('c', '3', 1000);
    expect(lru.get('b', 0)).toBeNull();
    expect(lru.get('a', 0)).toBe('1');
    expect(lru.get('c', 0)).toBe('3');
  });

  it('stays under maxBytes and skips values larger than the budget', () => {
    const lru = new MemoryLru(100, 40);
    lru.set('a', 'x'.repeat(8), 1000); // 18 bytes
    lru.set('b', 'y'.repeat(8), 1000); // 36 bytes in all
    lru.set('c', 'z'.repeat(8), 1000); // 54 > 40: 'a' goes
    expect(lru.bytes).toBeLessThanOrEqual(40);
    expect(lru.get('a', 0)).toBeNull();
    lru.set('huge', 'h'.repeat(100), 1000);
    expect(lru.get('huge', 0)).toBeNull();
  });

  it('honours expiry', () => {
    const lru = new MemoryLru(10, 1000);
    lru.set('a', '1', 100);
    expect(lru.ttl('a', 40)).toBe(60);
    expect(lru.get('a', 100)).toBeNull();
    expect(lru.ttl('a', 100)).toBeNull();
  });
});
