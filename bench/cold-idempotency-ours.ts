import { IdempotencyStore } from '../lambda/services/idempotency/idempotency-store';
import { keyBuilder, redisFor } from '../lambda/shared/runtime';

/**
 * A bundle of its own for the cold-start rows: the runtime's client and our Idempotency-Key
 * records, claiming the event's key and storing an answer (a replay on later events). Measured
 * beside the same work done with Powertools Idempotency (cold-idempotency-powertools.ts).
 */
let store: Promise<IdempotencyStore> | undefined;

export const handler = async (event: { key: string }) => {
  store ??= redisFor('rateLimit').then((redis) => new IdempotencyStore({ redis, keys: keyBuilder() }));
  const s = await store;
  const claim = await s.begin('bench', event.key, 'the same request', 5_000);
  if (claim.state === 'replay') return { statusCode: claim.response.status, body: claim.response.body };
  if (claim.state !== 'run') return { statusCode: 409, body: '{}' };
  const answer = { status: 200, headers: { 'content-type': 'application/json' }, body: '{"done":true}' };
  await s.complete(claim, answer);
  return { statusCode: 200, body: answer.body };
};
