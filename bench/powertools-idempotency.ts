import { IdempotencyConfig, makeIdempotent } from '@aws-lambda-powertools/idempotency';
import { CachePersistenceLayer } from '@aws-lambda-powertools/idempotency/cache';
import type { Context } from 'aws-lambda';
import type { RedisLike } from '../lambda/shared/redis';

/**
 * Powertools for AWS Lambda's Idempotency utility with its cache persistence layer over one of
 * our database clients: the reference the bench measures Idempotency-Key against, and what
 * docs/architecture.md weighs it on. The adapter gives the layer the `get`/`set`/`del` of a
 * node-redis or Valkey GLIDE client (`SET` with `EX`/`NX` answering `'OK'` or `null`).
 */
export function cacheClientOf(redis: RedisLike) {
  return {
    get: (name: string) => redis.get(name),
    async set(name: string, value: unknown, options?: { EX?: number; NX?: boolean }) {
      const written = await redis.set(name, String(value), {
        ...(options?.EX !== undefined ? { px: options.EX * 1_000 } : {}),
        ...(options?.NX ? { nx: true } : {}),
      });
      return written ? 'OK' : null;
    },
    del: (keys: string[]) => redis.del(keys),
  };
}

/**
 * `work` made idempotent by Powertools: the request's `key` names the record (24 h). Without
 * payload validation: with `payloadValidationJmesPath`, 2.35's cache layer drops the payload's
 * hash when it stores the answer, so every identical replay fails with IdempotencyValidationError
 * (aws-powertools/powertools-lambda-typescript#5705, fixed after 2.35 by #5706). A different
 * request under a used key is then answered the first answer instead of being refused.
 */
export function powertoolsIdempotent<R extends { key: string }, T>(
  redis: RedisLike,
  work: (request: R) => Promise<T>,
): (request: R) => Promise<T> {
  const config = new IdempotencyConfig({ eventKeyJmesPath: 'key', expiresAfterSeconds: 86_400 });
  // As a handler would: the in-progress record then expires with the invocation.
  config.registerLambdaContext({ getRemainingTimeInMillis: () => 10_000 } as Context);
  return makeIdempotent(work, {
    persistenceStore: new CachePersistenceLayer({ client: cacheClientOf(redis) }),
    config,
  }) as (request: R) => Promise<T>;
}
