import { defineScript } from '../../shared/scripts';

/**
 * One script decides a check of one or several limits: it reads every limit, decides, and only
 * when all of them pass writes every one of them (all or nothing). The same arithmetic lives in
 * `algorithms.ts` for the in-container limiter and for turning the raw state into a result; keep
 * the two in step.
 *
 * KEYS, per limit in order: fixed window `[window]`; sliding window `[current, previous]`;
 * token bucket `[bucket]`.
 * ARGV[1] now (epoch ms, the caller's clock), ARGV[2] number of limits n, then 5 per limit:
 *   algorithm ('f' | 's' | 'b'), limit, window ms, refill per window (token bucket; else 0),
 *   cost (integer; negative refunds, 0 reads only).
 * Returns `{ ok, failedIndex, a1, b1, a2, b2, ... }` with ok 1 or 0, failedIndex the 1-based
 * limit that refused (0 when none), and per limit the state after the decision:
 *   fixed `a` = used in the window, `b` = 0; sliding `a` = used in the current window, `b` = used
 *   in the previous one; token bucket `a` = tokens left, `b` = last refill time.
 *
 * Billed commands (Upstash: 1 for the EVALSHA plus each redis.call), one limit:
 *   fixed window: first 3 (INCRBY, PEXPIRE), later 2 (INCRBY), refused 3 (INCRBY, DECRBY or DEL);
 *   sliding window: first 3 (MGET, SET PX), later 3 (MGET, INCRBY), refused 2 (MGET);
 *   token bucket: 3 (GET, SET PX), refused 2 (GET).
 * Several limits: 1 + one read per limit + one write per limit when all pass.
 */
export const CHECK_SCRIPT = defineScript(
  'ratelimit.check',
  `
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])

-- Fast path of the most common call: one fixed window that consumes. Increment first and undo
-- on refusal, so an admitted request costs one inner command (upstream's price) and a refused one
-- still consumes nothing.
if n == 1 and ARGV[3] == 'f' and tonumber(ARGV[7]) > 0 then
  local limit, window, cost = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[7])
  local used = redis.call('INCRBY', KEYS[1], cost)
  if used > limit then
    -- A key we created only to refuse would live on without a TTL: delete it instead.
    if used == cost then
      redis.call('DEL', KEYS[1])
      return { 0, 1, 0, 0 }
    end
    used = redis.call('DECRBY', KEYS[1], cost)
    return { 0, 1, used, 0 }
  end
  if used == cost then redis.call('PEXPIRE', KEYS[1], window) end
  return { 1, 0, used, 0 }
end

local state = {}
local ok, failed = 1, 0
local k = 1
for i = 1, n do
  local base = 2 + (i - 1) * 5
  local algo = ARGV[base + 1]
  local limit = tonumber(ARGV[base + 2])
  local window = tonumber(ARGV[base + 3])
  local refill = tonumber(ARGV[base + 4])
  local cost = tonumber(ARGV[base + 5])
  local s = { algo = algo, limit = limit, window = window, refill = refill, cost = cost, key = k }
  if algo == 'f' then
    s.raw = redis.call('GET', KEYS[k])
    s.a = tonumber(s.raw or '0')
    s.b = 0
    s.remaining = limit - s.a
    k = k + 1
  elseif algo == 's' then
    local pair = redis.call('MGET', KEYS[k], KEYS[k + 1])
    s.raw = pair[1]
    s.a = tonumber(pair[1] or '0')
    s.b = tonumber(pair[2] or '0')
    local weighted = math.floor(s.b * (window - now % window) / window)
    s.remaining = limit - s.a - weighted
    k = k + 2
  else
    local raw = redis.call('GET', KEYS[k])
    local tokens, at = limit, now
    if raw then
      local sep = string.find(raw, ':', 1, true)
      tokens = tonumber(string.sub(raw, 1, sep - 1))
      at = tonumber(string.sub(raw, sep + 1))
    end
    if now >= at + window then
      local refills = math.floor((now - at) / window)
      tokens = math.min(limit, tokens + refills * refill)
      at = at + refills * window
    end
    s.a = tokens
    s.b = at
    s.remaining = tokens
    k = k + 1
  end
  -- Cost before consume: a request larger than what remains takes nothing.
  if cost > 0 and cost > s.remaining and ok == 1 then
    ok = 0
    failed = i
  end
  state[i] = s
end

if ok == 1 then
  for i = 1, n do
    local s = state[i]
    local key = KEYS[s.key]
    if s.cost ~= 0 then
      if s.algo == 'f' or s.algo == 's' then
        -- Refunds stop at zero: giving back more than was used must not bank credit.
        local target = math.max(0, s.a + s.cost)
        local ttl = s.window
        if s.algo == 's' then ttl = 2 * s.window + 1000 end
        if s.raw == false then
          if target > 0 then redis.call('SET', key, target, 'PX', ttl) end
        elseif s.cost > 0 then
          redis.call('INCRBY', key, s.cost)
        else
          redis.call('SET', key, target, 'KEEPTTL')
        end
        s.a = target
      else
        local tokens = math.min(s.limit, s.a - s.cost)
        s.a = tokens
        if tokens >= s.limit then
          -- A full bucket is the same as no bucket.
          redis.call('DEL', key)
        else
          local ttl = math.ceil((s.limit - tokens) / s.refill) * s.window
          redis.call('SET', key, tokens .. ':' .. s.b, 'PX', ttl)
        end
      end
    end
  end
end

local reply = { ok, failed }
for i = 1, n do
  reply[#reply + 1] = state[i].a
  reply[#reply + 1] = state[i].b
end
return reply
`,
);

/**
 * Raises counters to what an in-container limiter consumed while Redis was unreachable (the
 * `local` outage policy), so the limit holds across the outage: a window count only goes up, a
 * token bucket only down. Sent in the same round trip as the check that follows the outage.
 *
 * KEYS: the counters. ARGV[1] now (epoch ms), then 7 per key: kind ('n' window count | 'b' token
 * bucket), a (the count, or the tokens), b (the bucket's last refill time; 0 for counts), TTL ms
 * for a counter this creates, limit, window ms, refill per window (buckets).
 * Returns the number of counters raised.
 * Billed: 1 + one GET per key + one SET per raised key.
 */
export const RAISE_SCRIPT = defineScript(
  'ratelimit.raise',
  `
local now = tonumber(ARGV[1])
local raised = 0
for i = 1, #KEYS do
  local base = 1 + (i - 1) * 7
  local kind, a, b, ttl = ARGV[base + 1], tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), ARGV[base + 4]
  local raw = redis.call('GET', KEYS[i])
  if kind == 'n' then
    if a > tonumber(raw or '0') then
      if raw then redis.call('SET', KEYS[i], a, 'KEEPTTL') else redis.call('SET', KEYS[i], a, 'PX', ttl) end
      raised = raised + 1
    end
  else
    local limit, window, refill = tonumber(ARGV[base + 5]), tonumber(ARGV[base + 6]), tonumber(ARGV[base + 7])
    local function refilled(tokens, at)
      if now >= at + window then
        local refills = math.floor((now - at) / window)
        return math.min(limit, tokens + refills * refill), at + refills * window
      end
      return tokens, at
    end
    local mine, mineAt = refilled(a, b)
    local theirs = limit
    if raw then
      local sep = string.find(raw, ':', 1, true)
      theirs = refilled(tonumber(string.sub(raw, 1, sep - 1)), tonumber(string.sub(raw, sep + 1)))
    end
    if mine < theirs then
      redis.call('SET', KEYS[i], mine .. ':' .. mineAt, 'PX', ttl)
      raised = raised + 1
    end
  end
end
return raised
`,
);
