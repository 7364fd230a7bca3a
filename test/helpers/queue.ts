import { JobQueue, type JobQueueOptions } from '../../lambda/services/queue';
import { KeyBuilder } from '../../lambda/shared/keys';
import { randomPrefix, sharedRedis } from './redis';

/** A queue of its own (fresh key prefix) with a clock the test moves by hand. */
export function queueWithClock(options: Partial<JobQueueOptions> = {}) {
  const clock = { now: 1_800_000_000_000 };
  const queue = new JobQueue({
    redis: sharedRedis(),
    keys: new KeyBuilder(randomPrefix()),
    clock: () => clock.now,
    backoff: { baseMs: 1_000, maxMs: 60_000 },
    ...options,
  });
  return { queue, clock };
}
