import { UpstashUnavailableError } from '../../../lambda/shared/errors';
import type { RedisLike } from '../../../lambda/shared/redis';

/** Errors of a request that never got an answer (refused, reset, aborted), not Redis errors. */
const isNetworkError = (error: unknown): boolean =>
  error instanceof TypeError ||
  (error instanceof Error &&
    /fetch failed|ECONNREFUSED|ECONNRESET|socket|aborted|timeout/i.test(error.message));

/**
 * Wraps a {@link RedisLike} so network failures become {@link UpstashUnavailableError}, as the
 * runtime's client factory does, for outage tests against a really closed endpoint.
 */
export function mapNetworkErrors(redis: RedisLike): RedisLike {
  return new Proxy(redis, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        try {
          return await value.apply(target, args);
        } catch (error) {
          if (isNetworkError(error))
            throw new UpstashUnavailableError('Upstash unreachable', { cause: error });
          throw error;
        }
      };
    },
  });
}
