import { defineScript } from '../../shared/scripts';

/**
 * Adds a container's cache counts to the tenant's totals.
 * KEYS[1] the tenant's stats hash
 * ARGV[1] hits to add, ARGV[2] misses to add
 * Returns nothing.
 */
export const ADD_SCRIPT = defineScript(
  'stats.add',
  `redis.call('HINCRBY', KEYS[1], 'hits', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'misses', ARGV[2])
return 0`,
);

/**
 * Reads the tenant's totals.
 * KEYS[1] the tenant's stats hash
 * Returns { hits, misses } as integers (0 when absent).
 */
export const READ_SCRIPT = defineScript(
  'stats.read',
  `local v = redis.call('HMGET', KEYS[1], 'hits', 'misses')
return { tonumber(v[1]) or 0, tonumber(v[2]) or 0 }`,
);
