import { defineScript } from '../../shared/scripts';

/**
 * Reads one key whole, of any supported type, with its TTL: what a copy or a verification needs,
 * in one command per key on either side.
 * KEYS[1] the key
 * Returns { type, pttl, ...items }: string → value; hash → field, value...; list → items in order;
 * set → members; zset → member, score... (ZRANGE WITHSCORES). type `none` when the key is gone.
 */
export const READ_KEY_SCRIPT = defineScript(
  'migration.read',
  `
local t = redis.call('TYPE', KEYS[1])['ok']
local out = { t, redis.call('PTTL', KEYS[1]) }
local items
if t == 'string' then items = { redis.call('GET', KEYS[1]) }
elseif t == 'hash' then items = redis.call('HGETALL', KEYS[1])
elseif t == 'list' then items = redis.call('LRANGE', KEYS[1], 0, -1)
elseif t == 'set' then items = redis.call('SMEMBERS', KEYS[1])
elseif t == 'zset' then items = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
else items = {} end
for i = 1, #items do out[#out + 1] = items[i] end
return out
`,
);

/**
 * Replaces one key with the given content and TTL, atomically: re-running a copy writes the same
 * thing again (idempotent), and no reader sees a half-written key.
 * KEYS[1] the key
 * ARGV[1] type (string, hash, list, set, zset), ARGV[2] TTL in ms (0: none), ARGV[3..] the items
 * as READ_KEY_SCRIPT returns them.
 * Returns 1.
 */
export const WRITE_KEY_SCRIPT = defineScript(
  'migration.write',
  `
local key, t, ttl = KEYS[1], ARGV[1], tonumber(ARGV[2])
redis.call('DEL', key)
local function each(step, write)
  local chunk = {}
  for i = 3, #ARGV, step do
    for j = 0, step - 1 do chunk[#chunk + 1] = ARGV[i + j] end
    if #chunk >= 1000 then write(chunk) chunk = {} end
  end
  if #chunk > 0 then write(chunk) end
end
if t == 'string' then redis.call('SET', key, ARGV[3])
elseif t == 'hash' then each(2, function(c) redis.call('HSET', key, unpack(c)) end)
elseif t == 'list' then each(1, function(c) redis.call('RPUSH', key, unpack(c)) end)
elseif t == 'set' then each(1, function(c) redis.call('SADD', key, unpack(c)) end)
elseif t == 'zset' then
  each(2, function(c)
    local args = {}
    for i = 1, #c, 2 do args[#args + 1] = c[i + 1]; args[#args + 1] = c[i] end
    redis.call('ZADD', key, unpack(args))
  end)
else return redis.error_reply('unsupported type ' .. t) end
if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
return 1
`,
);
