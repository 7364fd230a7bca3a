import { defineScript } from '../../shared/scripts';

/*
 * A session is a hash: `_u` user id, `_c` created at, `_x` absolute expiry (epoch ms), `_i` idle
 * TTL (ms), and one `d:<name>` field per data field (JSON). Its key TTL is always
 * min(idle, absolute expiry - now), so Redis itself ends both timeouts.
 * A fence is a hash with only `_t` under the id of a create that was given up on (see
 * RESOLVE_CREATE_SCRIPT): every script reads it as no session.
 * The per-user index is a sorted set of session ids scored by creation time.
 */

/**
 * Reads a session and slides its idle TTL, never past the absolute expiry.
 * KEYS[1] session. ARGV[1] now (epoch ms).
 * Returns the HGETALL array, or nil when missing or past its absolute expiry.
 * Billed: 3 (EVALSHA, HGETALL, PEXPIRE).
 */
export const GET_SCRIPT = defineScript(
  'session.get',
  `
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return false end
local now, expiry, idle = tonumber(ARGV[1]), nil, nil
for i = 1, #h, 2 do
  if h[i] == '_x' then expiry = tonumber(h[i + 1]) elseif h[i] == '_i' then idle = tonumber(h[i + 1]) end
end
if not expiry or not idle then return false end
local left = expiry - now
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('PEXPIRE', KEYS[1], math.min(idle, left))
return h
`,
);

/**
 * Creates a session and enforces the per-user cap, evicting the oldest sessions atomically. The
 * id is the request's token: a re-run with an id that exists changes nothing and answers as the
 * first run did; an id that was fenced off (RESOLVE_CREATE_SCRIPT) never creates anything.
 * With a receipt (an `Idempotency-Key` record), writes it in the same step as the session.
 * KEYS[1] new session, KEYS[2] user index, KEYS[3] the receipt's key (KEYS[1] again when there is
 * none), KEYS[4..] keys of the sessions to evict (the caller learns them from a first attempt:
 * every key a script touches must come in KEYS).
 * ARGV[1] now, ARGV[2] idle ms, ARGV[3] absolute ms, ARGV[4] max per user, ARGV[5] session id,
 * ARGV[6] user id, ARGV[7] session key prefix (to match KEYS[4..] with index members),
 * ARGV[8] receipt value or '', ARGV[9] receipt TTL ms, ARGV[10..] data field/value pairs.
 * Returns `{1, createdAt, 1}` when created now, `{1, createdAt, 0}` when created by an earlier
 * run, `{2}` when fenced, or `{0, member...}` naming every session of the index when one to evict
 * was not passed in KEYS (call again with them).
 * Billed: 7 to 9 (HMGET, ZREMRANGEBYSCORE, ZCARD, [ZRANGE, DEL, ZREM,] HSET, PEXPIRE, ZADD,
 * PEXPIRE); +1 with a receipt (SET).
 */
export const CREATE_SCRIPT = defineScript(
  'session.create',
  `
local mine = redis.call('HMGET', KEYS[1], '_u', '_t', '_c')
if mine[2] then return { 2 } end
if mine[1] then return { 1, mine[3], 0 } end
local now, idle, absolute, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
-- Entries past the absolute lifetime are dead whatever happened to them.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - absolute)
local excess = redis.call('ZCARD', KEYS[2]) - max + 1
if excess > 0 then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, excess - 1)
  local passed = {}
  for j = 4, #KEYS do passed[KEYS[j]] = j end
  for _, member in ipairs(oldest) do
    if not passed[ARGV[7] .. member] then
      -- Name the whole index: under concurrent creates the oldest keep moving, the rest do not.
      local all = redis.call('ZRANGE', KEYS[2], 0, -1)
      table.insert(all, 1, 0)
      return all
    end
  end
  local doomed = {}
  for _, member in ipairs(oldest) do doomed[#doomed + 1] = KEYS[passed[ARGV[7] .. member]] end
  redis.call('DEL', unpack(doomed))
  redis.call('ZREM', KEYS[2], unpack(oldest))
end
local fields = { '_u', ARGV[6], '_c', now, '_x', now + absolute, '_i', idle }
for i = 10, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], math.min(idle, absolute))
redis.call('ZADD', KEYS[2], now, ARGV[5])
-- The index lives as long as its newest session can.
redis.call('PEXPIRE', KEYS[2], absolute)
if ARGV[8] ~= '' then redis.call('SET', KEYS[3], ARGV[8], 'PX', ARGV[9]) end
return { 1, now, 1 }
`,
);

/**
 * Settles a create whose answer was lost: reports it created, or fences its id off so that a
 * copy still on its way can never create it (nor evict anything for it).
 * KEYS[1] the session. ARGV[1] fence lifetime ms.
 * Returns `{1, createdAt}` when the session was created, `{0}` when it is (now) fenced.
 * Billed: 2 (HMGET) or 4 (+ HSET, PEXPIRE).
 */
export const RESOLVE_CREATE_SCRIPT = defineScript(
  'session.resolve-create',
  `
local mine = redis.call('HMGET', KEYS[1], '_u', '_t', '_c')
if mine[1] then return { 1, mine[3] } end
if not mine[2] then
  redis.call('HSET', KEYS[1], '_t', '1')
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return { 0 }
`,
);

/**
 * Merges fields into a live session (field-level, so concurrent updates of different fields
 * never lose each other) and slides its TTL like a read.
 * KEYS[1] session. ARGV[1] now, ARGV[2] number of field/value pairs p, ARGV[3..2+2p] the pairs,
 * then the fields to delete.
 * Returns the HGETALL array after the update, or nil when the session is gone.
 * Billed: 4 to 6 (HMGET, [HSET,] [HDEL,] PEXPIRE, HGETALL).
 */
export const UPDATE_SCRIPT = defineScript(
  'session.update',
  `
local meta = redis.call('HMGET', KEYS[1], '_x', '_i')
if not meta[1] or not meta[2] then return false end
local now = tonumber(ARGV[1])
local left = tonumber(meta[1]) - now
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return false
end
local np = tonumber(ARGV[2])
if np > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 3, 2 + 2 * np)) end
if #ARGV > 2 + 2 * np then redis.call('HDEL', KEYS[1], unpack(ARGV, 3 + 2 * np, #ARGV)) end
redis.call('PEXPIRE', KEYS[1], math.min(tonumber(meta[2]), left))
return redis.call('HGETALL', KEYS[1])
`,
);

/**
 * Moves a session to a new id (fixation defence): the old id stops working in the same step.
 * Data, creation time, absolute expiry and TTL carry over; the index follows.
 * KEYS[1] old session, KEYS[2] new session, KEYS[3] user index.
 * ARGV[1] user id the caller read, ARGV[2] old id, ARGV[3] new id.
 * Returns 1, or 0 when the old session is gone or belongs to someone else.
 * Billed: 5 (HMGET, RENAME, ZREM, ZADD).
 */
export const REGENERATE_SCRIPT = defineScript(
  'session.regenerate',
  `
local meta = redis.call('HMGET', KEYS[1], '_u', '_c')
if meta[1] ~= ARGV[1] then return 0 end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[3], meta[2], ARGV[3])
return 1
`,
);

/**
 * Lists the ids in a user's index, dropping those past the absolute lifetime.
 * KEYS[1] user index. ARGV[1] oldest creation time still alive (now - absolute).
 * Billed: 3 (ZREMRANGEBYSCORE, ZRANGE).
 */
export const INDEX_SCRIPT = defineScript(
  'session.index',
  `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1)
`,
);

/**
 * Reads the sessions of an index and prunes the entries whose session is gone (idle expiry,
 * destroy). Reads do not slide TTLs: listing is not activity, so each session's PTTL says when it
 * ends if idle.
 * KEYS[1] user index, KEYS[2..] the sessions. ARGV[i] the id of KEYS[i + 1].
 * Returns, per session, its HGETALL array (empty when gone) and its PTTL.
 * Billed: 1 + one HGETALL and one PTTL per live session + one ZREM when something was pruned.
 */
export const FETCH_SCRIPT = defineScript(
  'session.fetch',
  `
local out, gone = {}, {}
for i = 2, #KEYS do
  local h = redis.call('HGETALL', KEYS[i])
  out[#out + 1] = h
  if #h == 0 then
    gone[#gone + 1] = ARGV[i - 1]
    out[#out + 1] = -2
  else
    out[#out + 1] = redis.call('PTTL', KEYS[i])
  end
end
if #gone > 0 then redis.call('ZREM', KEYS[1], unpack(gone)) end
return out
`,
);

/**
 * Deletes the given sessions of a user and their index entries.
 * KEYS[1] user index, KEYS[2..] the sessions. ARGV[i] the id of KEYS[i + 1].
 * Returns { sessions deleted (live ones), entries left in the index (sessions created meanwhile) }.
 * Billed: 4 (DEL, ZREM, ZCARD).
 */
export const REVOKE_SCRIPT = defineScript(
  'session.revoke',
  `
local ended = 0
if #KEYS > 1 then
  ended = redis.call('DEL', unpack(KEYS, 2, #KEYS))
  redis.call('ZREM', KEYS[1], unpack(ARGV))
end
return { ended, redis.call('ZCARD', KEYS[1]) }
`,
);
