import { defineScript } from '../../shared/scripts';

/**
 * Records the day an API key was last used, unless a later day is recorded already (days are
 * `YYYY-MM-DD`, so their text order is their time order).
 * KEYS[1] the last-used hash (field: key id, value: day). ARGV[1] key id, ARGV[2] day.
 * Returns 1 when written. Billed: 2 or 3 (HGET, [HSET]).
 */
export const TOUCH_SCRIPT = defineScript(
  'apikey.touch',
  `
local day = redis.call('HGET', KEYS[1], ARGV[1])
if day and day >= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`,
);

/**
 * Reads every recorded last-used day.
 * KEYS[1] the last-used hash. Returns HGETALL's array. Billed: 2.
 */
export const LAST_USED_SCRIPT = defineScript(
  'apikey.last-used',
  `
return redis.call('HGETALL', KEYS[1])
`,
);
