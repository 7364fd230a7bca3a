import type { AsyncLocalStorage } from 'node:async_hooks';
import { nodeBuiltin } from './builtin';
import { oneInvocationAtATime } from './lambda-env';

/**
 * A value per invocation (the usage meter's counts, a request's deadline), read by code deep in
 * the clients without passing it down.
 *
 * Where several invocations run at once in one process (the local stack, tests, a server of a
 * package user, Lambda Managed Instances) it lives in an `AsyncLocalStorage`, so each async chain
 * reads its own. Where the Lambda runtime hands the process one invocation at a time (every
 * Lambda function but those on Managed Instances) it is a plain variable set for the duration of
 * the invocation: on Node 20, an `AsyncLocalStorage` in use installs promise hooks that run on
 * every promise of the process (about 10 µs each, 4 ms of the api function's cold start; on
 * Node 24 they are nearly free), and nothing else can be running to read the wrong value.
 */
export interface InvocationStore<T> {
  /** Runs `fn` with `value` as the store's value, up to the settling of what `fn` returns. */
  run<R>(value: T, fn: () => R): R;
  /** The value of the invocation running now, if any. */
  get(): T | undefined;
}

/**
 * A store, of the kind {@link oneInvocationAtATime} calls for, decided on its first use (a test
 * or the local stack sets the environment before the first invocation).
 *
 * @param oneAtATime force one kind (tests)
 */
export function invocationStore<T>(oneAtATime?: boolean): InvocationStore<T> {
  let store: InvocationStore<T> | undefined;
  const resolve = () => {
    store ??= (oneAtATime ?? oneInvocationAtATime()) ? slotStore<T>() : asyncLocalStore<T>();
    return store;
  };
  return {
    run: (value, fn) => resolve().run(value, fn),
    // Nothing runs in a store never run.
    get: () => store?.get(),
  };
}

function asyncLocalStore<T>(): InvocationStore<T> {
  const { AsyncLocalStorage: Storage } = nodeBuiltin<typeof import('node:async_hooks')>('node:async_hooks');
  const storage: AsyncLocalStorage<T> = new Storage();
  return { run: (value, fn) => storage.run(value, fn), get: () => storage.getStore() };
}

function slotStore<T>(): InvocationStore<T> {
  let current: T | undefined;
  return {
    run(value, fn) {
      const outer = current;
      current = value;
      const restore = () => {
        current = outer;
      };
      let result: ReturnType<typeof fn>;
      try {
        result = fn();
      } catch (error) {
        restore();
        throw error;
      }
      if (result instanceof Promise) return result.finally(restore) as typeof result;
      restore();
      return result;
    },
    get: () => current,
  };
}
