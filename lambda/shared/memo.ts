/**
 * Once per container, retried after a failure: what every cold-start build of the runtime needs
 * (clients, credentials, a handler's services, a key set). Concurrent first calls share one
 * build; a build that fails is forgotten, so the next call tries again instead of failing for
 * the container's whole life.
 */

/** A memoized build; see {@link memoize}. */
export interface Memo<T> {
  /** The built value: the first call builds, later and concurrent ones share that promise. */
  (): Promise<T>;
  /** The value built or building now, without building it. */
  peek(): Promise<T> | undefined;
  /** Forgets the value (tests: a fresh container; a key set past its age). */
  forget(): void;
}

/**
 * Memoizes `build`, forgetting a failed build.
 *
 * @example
 * const services = memoize(buildServices);
 * export const handler = async (event) => run(await services(), event);
 */
export function memoize<T>(build: () => Promise<T>): Memo<T> {
  let value: Promise<T> | undefined;
  const memo = (() => {
    if (value) return value;
    const building = build();
    value = building;
    // Only this build is forgotten: a later one that replaced it stays.
    building.catch(() => {
      if (value === building) value = undefined;
    });
    return building;
  }) as Memo<T>;
  memo.peek = () => value;
  memo.forget = () => {
    value = undefined;
  };
  return memo;
}

/** {@link memoize} per key: one build per key, each forgotten on its own failure. */
export class MemoMap<K, T> {
  readonly #values = new Map<K, Promise<T>>();

  /** The value of `key`, built by `build` on first use. */
  get(key: K, build: (key: K) => Promise<T>): Promise<T> {
    const cached = this.#values.get(key);
    if (cached) return cached;
    const building = build(key);
    this.set(key, building);
    return building;
  }

  /** The value of `key` built or building now, without building it. */
  peek(key: K): Promise<T> | undefined {
    return this.#values.get(key);
  }

  /**
   * Replaces the value of `key`. If it fails (and was not replaced again meanwhile), `previous`
   * takes its place again when given (a failed refresh keeps what worked), else the key is
   * forgotten; the callers already waiting on it see the failure either way.
   */
  set(key: K, value: Promise<T>, previous?: Promise<T>): void {
    this.#values.set(key, value);
    value.catch(() => {
      if (this.#values.get(key) !== value) return;
      if (previous) this.#values.set(key, previous);
      else this.#values.delete(key);
    });
  }

  /** Forgets one key, or every key. */
  forget(key?: K): void {
    if (key === undefined) this.#values.clear();
    else this.#values.delete(key);
  }

  /** The values built or building now. */
  values(): Promise<T>[] {
    return [...this.#values.values()];
  }
}

/**
 * An object whose properties are built on first read, each once: what a handler builds for its
 * routes, so a cold start builds only what its first event uses.
 *
 * @example
 * const services = lazyProperties({ cache: () => new CacheService(options) });
 * services.cache.get(tenant, key); // built here, reused after
 */
export function lazyProperties<T extends object>(builders: { readonly [K in keyof T]: () => T[K] }): T {
  const built = {} as T;
  for (const name of Object.keys(builders) as Array<keyof T>) {
    Object.defineProperty(built, name, {
      enumerable: true,
      configurable: true,
      get() {
        const value = builders[name]();
        Object.defineProperty(built, name, { value, enumerable: true, writable: false });
        return value;
      },
    });
  }
  return built;
}
