import { keyBuilder, redisFor } from '../lambda/shared/runtime';
import { powertoolsIdempotent } from './powertools-idempotency';

/**
 * A bundle of its own for the cold-start rows: the runtime's client and Powertools Idempotency
 * (cache persistence layer) around the same work as cold-idempotency-ours.ts.
 */
let run: Promise<(request: { key: string }) => Promise<{ statusCode: number; body: string }>> | undefined;

export const handler = async (event: { key: string }) => {
  run ??= redisFor('rateLimit').then((redis) =>
    powertoolsIdempotent(redis, async () => ({ statusCode: 200, body: '{"done":true}' })),
  );
  return (await run)({ key: keyBuilder().key('idempotency', 'bench', event.key) });
};
