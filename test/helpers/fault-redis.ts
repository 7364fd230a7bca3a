import { UpstashUnavailableError } from '../../lambda/shared/errors';
import type { RedisLike } from '../../lambda/shared/redis';

/**
 * How the next commands fail, as a real transport can:
 * - `up`: they go through;
 * - `down`: refused before anything is sent (outcome `not-applied`), like ECONNREFUSED;
 * - `lose-reply`: sent and run, then the answer is lost (outcome `unknown`), like a reset or a
 *   timeout after the server ran it;
 * - `hold`: not run yet, the caller gets an `unknown` failure, and the command runs later, on
 *   {@link FaultyRedis.release} (a request stuck in a queue that the server finally serves).
 */
export type FaultMode = 'up' | 'down' | 'lose-reply' | 'hold';

/** A {@link RedisLike} over a real one, with failures injected at the transport. */
export interface FaultyRedis extends RedisLike {
  /** How commands fail once {@link FaultyRedis.plan} is used up. */
  mode: FaultMode;
  /** How the next commands fail, one entry per command, before `mode` applies again. */
  readonly plan: FaultMode[];
  /** Commands sent (run or held) since creation, by method name. */
  readonly sent: string[];
  /** Runs the held commands now, in order; resolves once they ran. */
  release(): Promise<void>;
}

/** Wraps `redis` so its failures can be switched on and off (see {@link FaultMode}). */
export function faultyRedis(redis: RedisLike): FaultyRedis {
  const held: Array<() => Promise<unknown>> = [];
  const state = { mode: 'up' as FaultMode, sent: [] as string[], plan: [] as FaultMode[] };
  const release = async () => {
    while (held.length > 0)
      await held
        .shift()?.()
        .catch(() => {});
  };
  return new Proxy(redis, {
    get(target, property, receiver) {
      if (property === 'mode' || property === 'sent' || property === 'plan') return state[property];
      if (property === 'release') return release;
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const run = () => value.apply(target, args) as Promise<unknown>;
        const mode = state.plan.shift() ?? state.mode;
        const fail = (outcome: 'not-applied' | 'unknown') =>
          new UpstashUnavailableError(`injected: ${mode}`, { outcome, roundTrip: {} });
        switch (mode) {
          case 'up':
            state.sent.push(String(property));
            return run();
          case 'down':
            throw fail('not-applied');
          case 'lose-reply':
            state.sent.push(String(property));
            await run().catch(() => {});
            throw fail('unknown');
          case 'hold':
            state.sent.push(String(property));
            held.push(run);
            throw fail('unknown');
        }
      };
    },
    set(_target, property, value) {
      if (property !== 'mode') return false;
      state.mode = value as FaultMode;
      return true;
    },
  }) as FaultyRedis;
}
