import { afterEach, describe, expect, it, vi } from 'vitest';
import { invocationStore } from '../../../../lambda/shared/invocation-store';
import { oneInvocationAtATime } from '../../../../lambda/shared/lambda-env';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('oneInvocationAtATime', () => {
  it('is true in the Lambda runtime, false on Managed Instances and outside Lambda', () => {
    expect(oneInvocationAtATime({ AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001' })).toBe(true);
    expect(
      oneInvocationAtATime({ AWS_LAMBDA_RUNTIME_API: '127.0.0.1:9001', AWS_LAMBDA_MAX_CONCURRENCY: '64' }),
    ).toBe(false);
    // The local stack, tests, an emulator that runs handlers in its own process.
    expect(oneInvocationAtATime({ AWS_LAMBDA_FUNCTION_NAME: 'api' })).toBe(false);
    expect(oneInvocationAtATime({})).toBe(false);
  });
});

describe.each([
  ['a slot (one invocation at a time)', true],
  ['async context', false],
])('invocationStore: %s', (_kind, oneAtATime) => {
  it('holds the value while the function runs, through its awaits, and none after', async () => {
    const store = invocationStore<string>(oneAtATime);
    expect(store.get()).toBeUndefined();
    const seen: Array<string | undefined> = [];
    const result = await store.run('a', async () => {
      seen.push(store.get());
      await tick();
      seen.push(store.get());
      return 'done';
    });
    expect(result).toBe('done');
    expect(seen).toEqual(['a', 'a']);
    expect(store.get()).toBeUndefined();
    // Synchronous functions too.
    expect(store.run('b', () => store.get())).toBe('b');
    expect(store.get()).toBeUndefined();
  });

  it('restores the outer value after a nested run, a throw and a rejection', async () => {
    const store = invocationStore<string>(oneAtATime);
    await store.run('outer', async () => {
      await store.run('inner', async () => {
        expect(store.get()).toBe('inner');
      });
      expect(store.get()).toBe('outer');
      expect(() =>
        store.run('thrown', () => {
          throw new Error('sync');
        }),
      ).toThrow('sync');
      expect(store.get()).toBe('outer');
      await expect(
        store.run('rejected', async () => {
          await tick();
          throw new Error('async');
        }),
      ).rejects.toThrow('async');
      expect(store.get()).toBe('outer');
    });
    expect(store.get()).toBeUndefined();
  });
});

describe('invocationStore: async context', () => {
  it('keeps the value of each of two invocations running at once', async () => {
    const store = invocationStore<string>(false);
    const read = async (value: string) =>
      store.run(value, async () => {
        const seen: Array<string | undefined> = [];
        for (let i = 0; i < 3; i++) {
          await tick();
          seen.push(store.get());
        }
        return seen;
      });
    expect(await Promise.all([read('a'), read('b')])).toEqual([
      ['a', 'a', 'a'],
      ['b', 'b', 'b'],
    ]);
  });
});

describe('invocationStore: the kind', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('is picked from the environment on first use', async () => {
    vi.stubEnv('AWS_LAMBDA_RUNTIME_API', '127.0.0.1:9001');
    const slot = invocationStore<string>();
    // A slot has one value for the whole process: a second run started meanwhile overwrites the
    // first's (which is why it is only used where the runtime never does that).
    const overlapping = await Promise.all(
      ['a', 'b'].map((value) =>
        slot.run(value, async () => {
          await tick();
          return slot.get();
        }),
      ),
    );
    expect(overlapping[0]).toBe('b');

    vi.stubEnv('AWS_LAMBDA_MAX_CONCURRENCY', '8');
    const context = invocationStore<string>();
    const separate = await Promise.all(
      ['a', 'b'].map((value) =>
        context.run(value, async () => {
          await tick();
          return context.get();
        }),
      ),
    );
    expect(separate).toEqual(['a', 'b']);
  });
});
