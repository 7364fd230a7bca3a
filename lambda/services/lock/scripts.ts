import { defineScript } from '../../shared/scripts';

/**
 * Takes the lock when it is free and draws the next fencing token, in one step: a holder never
 * exists without its token, and tokens are handed out in the order the lock was taken.
 *
 * KEYS[1] the lock key (value = holder token), KEYS[2] the resource's fencing counter (no TTL:
 *   it must never go back, so it outlives every lease).
 * ARGV[1] holder token, ARGV[2] lease in ms.
 * Returns the fencing token (integer), or nil when someone else holds the lock.
 * Billed: 3 taken (EVALSHA, SET, INCR), 2 refused (EVALSHA, SET).
 */
export const ACQUIRE_SCRIPT = defineScript(
  'lock.acquire',
  `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false
`,
);

/**
 * Compare-and-delete: only the holder releases, so a holder whose lease expired cannot delete the
 * lock its successor now holds.
 *
 * KEYS[1] the lock key. ARGV[1] holder token.
 * Returns 1 when released, 0 when the caller no longer holds the lock.
 * Billed: 3 (EVALSHA, GET, DEL), 2 when not the holder.
 */
export const RELEASE_SCRIPT = defineScript(
  'lock.release',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`,
);

/**
 * Compare-and-pexpire: only the holder extends, in milliseconds (upstream @upstash/lock extends in
 * whole seconds). The new lease counts from now, not from the old expiry.
 *
 * KEYS[1] the lock key. ARGV[1] holder token, ARGV[2] new lease in ms.
 * Returns 1 when extended, 0 when the caller no longer holds the lock.
 * Billed: 3 (EVALSHA, GET, PEXPIRE), 2 when not the holder.
 */
export const EXTEND_SCRIPT = defineScript(
  'lock.extend',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`,
);
