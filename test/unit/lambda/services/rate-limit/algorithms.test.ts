import { describe, expect, it } from 'vitest';
import {
  type LimitConfig,
  LocalLimiter,
  remainingOf,
  resetOf,
  weightedPrevious,
} from '../../../../../lambda/services/rate-limit/algorithms';

const W = 1000;
const sliding: LimitConfig = { algorithm: 'sliding-window', limit: 10, windowMs: W, refillRate: 10 };

describe('algorithms', () => {
  describe('weightedPrevious', () => {
    it('counts the part of the previous window that still overlaps, floored', () => {
      expect(weightedPrevious(10, 0, W)).toBe(10);
      expect(weightedPrevious(10, 250, W)).toBe(7);
      expect(weightedPrevious(10, 999, W)).toBe(0);
    });
  });

  describe('resetOf (sliding window)', () => {
    it('is the end of the window while requests still pass', () => {
      expect(resetOf(sliding, 5_100, { a: 3, b: 0 })).toBe(6_000);
    });

    it('is the first moment the previous window weighs little enough', () => {
      // cur 5, prev 10: need floor(10 * (W - o) / W) <= 4, i.e. o > 500.
      const reset = resetOf(sliding, 5_100, { a: 5, b: 10 });
      expect(reset).toBe(5_501);
      expect(remainingOf(sliding, reset, { a: 5, b: 10 })).toBe(1);
      expect(remainingOf(sliding, reset - 1, { a: 5, b: 10 })).toBe(0);
    });

    it('moves into the next window when the current one is full', () => {
      // cur 10 becomes prev: need floor(10 * (W - o) / W) <= 9, i.e. o > 0.
      expect(resetOf(sliding, 5_100, { a: 10, b: 0 })).toBe(6_001);
    });
  });

  describe('LocalLimiter', () => {
    it('admits a cost only when it fits and refunds up to the limit', () => {
      const local = new LocalLimiter();
      const config: LimitConfig = { algorithm: 'token-bucket', limit: 5, windowMs: W, refillRate: 1 };
      const check = (cost: number, now = 0) => local.check(now, [{ config, keys: ['k'], cost }]);
      expect(check(4)).toMatchObject({ ok: true, states: [{ a: 1 }] });
      expect(check(2)).toMatchObject({ ok: false, failedIndex: 1, states: [{ a: 1 }] });
      expect(check(-10)).toMatchObject({ ok: true, states: [{ a: 5 }] });
      check(5);
      expect(check(1, 2 * W)).toMatchObject({ ok: true, states: [{ a: 1 }] });
    });

    it('is all or nothing across limits', () => {
      const local = new LocalLimiter();
      const a: LimitConfig = { algorithm: 'fixed-window', limit: 5, windowMs: W, refillRate: 5 };
      const b: LimitConfig = { algorithm: 'fixed-window', limit: 1, windowMs: W, refillRate: 1 };
      const both = () =>
        local.check(0, [
          { config: a, keys: ['a'], cost: 1 },
          { config: b, keys: ['b'], cost: 1 },
        ]);
      expect(both().ok).toBe(true);
      expect(both()).toMatchObject({ ok: false, failedIndex: 2 });
      expect(local.check(0, [{ config: a, keys: ['a'], cost: 0 }]).states[0]?.a).toBe(1);
    });

    it('holds at most maxEntries keys', () => {
      const local = new LocalLimiter(3);
      const config: LimitConfig = { algorithm: 'fixed-window', limit: 5, windowMs: W, refillRate: 5 };
      for (let i = 0; i < 10; i++) local.check(0, [{ config, keys: [`k${i}`], cost: 1 }]);
      expect(local.size).toBe(3);
    });
  });
});
