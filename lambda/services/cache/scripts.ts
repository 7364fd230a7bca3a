import { defineScript } from '../../shared/scripts';

/**
 * Returns the value if it is there, else takes the getOrSet stampede lock if it is free: one
 * atomic step, so a caller that missed cannot take the lock after the holder stored the value
 * and released it (which would run the loader twice).
 * KEYS[1] value, KEYS[2] lock. ARGV[1] lock token, ARGV[2] lock TTL ms.
 * Returns `{1, value}` (hit), `{2}` (lock taken) or `{0}` (someone else holds the lock).
 * Billed: 2 or 3 (GET, [SET NX PX]).
 */
export const VALUE_OR_LOCK_SCRIPT = defineScript(
  'cache.valueOrLock',
  `
local value = redis.call('GET', KEYS[1])
if value then return { 1, value } end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return { 2 } end
return { 0 }
`,
);

/**
 * Stores the value a getOrSet loader produced and releases the stampede lock, if still ours, in
 * one round trip.
 * KEYS[1] value, KEYS[2] lock. ARGV[1] envelope, ARGV[2] TTL ms, ARGV[3] lock token.
 * Billed: 3 or 4 (SET, GET, [DEL]).
 */
export const STORE_AND_UNLOCK_SCRIPT = defineScript(
  'cache.storeAndUnlock',
  `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1
`,
);

/**
 * Releases the stampede lock only if it is still ours (a loader failed; the next caller loads).
 * KEYS[1] lock. ARGV[1] lock token. Billed: 2 or 3 (GET, [DEL]).
 */
export const UNLOCK_SCRIPT = defineScript(
  'cache.unlock',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
);
