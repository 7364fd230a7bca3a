import { AppError } from '../../shared/errors';

/**
 * The reason a {@link LockService.withLock} signal aborts: the lease could not be renewed (someone
 * else holds the lock now, or Upstash did not confirm a renewal before the lease ran out). Work
 * guarded by the lock should stop; its side effects should carry the fencing token.
 */
export class LockLostError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('LOCK_LOST', message, options);
  }
}
