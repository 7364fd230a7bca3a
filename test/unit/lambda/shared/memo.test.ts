import { describe, expect, it } from 'vitest';
import { lazyProperties, MemoMap, memoize } from '../../../../lambda/shared/memo';

describe('memoize', () => {
  it('builds once for concurrent and later calls', async () => {
    let builds = 0;
    const value = memoize(async () => ++builds);

    expect(await Promise.all([value(), value(), value()])).toEqual([1, 1, 1]);
    expect(await value()).toBe(1);
    expect(builds).toBe(1);
  });

  it('forgets a failed build, so the next call builds again', async () => {
    let calls = 0;
    const value = memoize(async () => {
      calls += 1;
      if (calls === 1) throw new Error('cold start failed');
      return 'ok';
    });

    await expect(value()).rejects.toThrow('cold start failed');
    expect(value.peek()).toBeUndefined();
    expect(await value()).toBe('ok');
  });

  it('peeks without building and forgets on demand', async () => {
    let builds = 0;
    const value = memoize(async () => ++builds);

    expect(value.peek()).toBeUndefined();
    await value();
    value.forget();
    expect(await value()).toBe(2);
  });
});

describe('MemoMap', () => {
  it('builds once per key and forgets a failed key only', async () => {
    const map = new MemoMap<string, string>();
    const ok = map.get('a', async (key) => key.toUpperCase());
    const failed = map.get('b', async () => {
      throw new Error('down');
    });

    expect(await ok).toBe('A');
    await expect(failed).rejects.toThrow('down');
    expect(map.peek('a')).toBe(ok);
    expect(map.peek('b')).toBeUndefined();
  });

  it('keeps the previous value when its replacement fails, and the waiters see the failure', async () => {
    const map = new MemoMap<string, string>();
    const first = map.get('secret', async () => 'v1');
    await first;
    const refresh = Promise.reject(new Error('re-fetch failed'));
    map.set('secret', refresh, first);

    await expect(refresh).rejects.toThrow('re-fetch failed');
    await Promise.resolve();
    expect(await map.peek('secret')).toBe('v1');
  });
});

describe('lazyProperties', () => {
  it('builds each property on its first read, once, and none it never reads', () => {
    const built: string[] = [];
    const services = lazyProperties<{ cache: { name: string }; queue: { name: string } }>({
      cache: () => {
        built.push('cache');
        return { name: 'cache' };
      },
      queue: () => {
        built.push('queue');
        return { name: 'queue' };
      },
    });

    expect(built).toEqual([]);
    const first = services.cache;
    expect(services.cache).toBe(first);
    expect(built).toEqual(['cache']);
    expect(Object.keys(services)).toEqual(['cache', 'queue']);
    expect(built).toEqual(['cache']);
  });

  it('builds again on the next read when a build throws', () => {
    let calls = 0;
    const services = lazyProperties<{ flaky: number }>({
      flaky: () => {
        calls += 1;
        if (calls === 1) throw new Error('not yet');
        return calls;
      },
    });

    expect(() => services.flaky).toThrow('not yet');
    expect(services.flaky).toBe(2);
    expect(services.flaky).toBe(2);
  });
});
