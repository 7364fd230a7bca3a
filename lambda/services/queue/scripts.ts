import { defineScript } from '../../shared/scripts';

/*
 * The queue's data model: a fixed set of keys per queue, so every script names all the keys it
 * touches in KEYS (Upstash's allow-key-locking forbids keys built inside a script), and a job id
 * is always a member of exactly one of the five state sets:
 *
 *   ready     ZSET  score = priority band * 1e13 + the time the job became ready (FIFO per band)
 *   delayed   ZSET  score = when the job is due (epoch ms): delays and retry backoff
 *   inflight  ZSET  score = lease deadline (epoch ms)
 *   done      ZSET  score = when it was acked; trimmed by prune
 *   dead      ZSET  score = when it was dead-lettered; trimmed by prune
 *   jobs      HASH  id -> the job record (JSON; the payload kept as a JSON string inside it, so Lua
 *                   never re-encodes user data); its `state` names the set the id is in
 *   idem      HASH  "<tenant>:<idempotency key>" -> id, removed with the job
 *
 * Times come from the caller's clock (ARGV), like the rate-limit script; leases are seconds to
 * minutes long, so the few ms of skew between Lambda containers do not matter. Each script
 * changes a job's set and its record together, which is what keeps the "exactly one set"
 * invariant.
 */

/** Priority bands of the ready set, in Lua. Keep in step with `BAND` in queue.ts. */
const BANDS = `local BAND = { high = 0, normal = 1, low = 2 }
local BAND_WIDTH = 1e13`;

/**
 * Adds a job, unless its idempotency key (or, after a re-run of this very call, its id) is
 * already known, or its id was fenced off (RESOLVE_ENQUEUE_SCRIPT: the caller gave up on it).
 *
 * KEYS[1] jobs, KEYS[2] idem, KEYS[3] ready, KEYS[4] delayed, KEYS[5] the id's fence.
 * ARGV[1] id, ARGV[2] record JSON (state already 'ready' or 'delayed'), ARGV[3] idem field or '',
 * ARGV[4] score: the ready score, or the due time when ARGV[5] is '1' (delayed).
 * Returns { id, state }: state 0 added, 1 duplicate, 2 fenced (nothing added).
 * Billed: 4 (EVALSHA, EXISTS, HSETNX, ZADD); 6 with an idempotency key (+ HGET, HSET); 3 for a
 * duplicate.
 */
export const ENQUEUE_SCRIPT = defineScript(
  'queue.enqueue',
  `
if redis.call('EXISTS', KEYS[5]) == 1 then return { ARGV[1], 2 } end
if ARGV[3] ~= '' then
  local existing = redis.call('HGET', KEYS[2], ARGV[3])
  if existing then return { existing, 1 } end
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return { ARGV[1], 1 } end
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
else
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
end
return { ARGV[1], 0 }
`,
);

/**
 * Settles an enqueue whose answer was lost: reports the job added, or fences its id off so that
 * a copy still on its way can never add it.
 * KEYS[1] jobs, KEYS[2] the id's fence. ARGV[1] id, ARGV[2] fence lifetime ms.
 * Returns 1 when the job was added, 0 when it is (now) fenced.
 * Billed: 2 (HEXISTS) or 3 (+ SET PX).
 */
export const RESOLVE_ENQUEUE_SCRIPT = defineScript(
  'queue.resolve-enqueue',
  `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 1 end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return 0
`,
);

/**
 * Takes the first ready job of the highest priority, counts the attempt and leases it.
 *
 * KEYS[1] ready, KEYS[2] inflight, KEYS[3] jobs.
 * ARGV[1] now, ARGV[2] lease ms, ARGV[3] lease token (random, per delivery).
 * Returns the updated record JSON, or nil when nothing is ready.
 * Billed: 5 (EVALSHA, ZPOPMIN, HGET, HSET, ZADD); 2 when empty.
 */
export const DEQUEUE_SCRIPT = defineScript(
  'queue.dequeue',
  `
local popped = redis.call('ZPOPMIN', KEYS[1])
if #popped == 0 then return false end
local id = popped[1]
local raw = redis.call('HGET', KEYS[3], id)
if not raw then return false end
local job = cjson.decode(raw)
local leaseUntil = tonumber(ARGV[1]) + tonumber(ARGV[2])
job.attempts = job.attempts + 1
job.state = 'inflight'
job.lease = ARGV[3]
job.leaseUntil = leaseUntil
local out = cjson.encode(job)
redis.call('HSET', KEYS[3], id, out)
redis.call('ZADD', KEYS[2], leaseUntil, id)
return out
`,
);

/**
 * Completes a job, only for the holder of its current lease. Acking again with the same lease
 * (a network retry) answers 1 without changing anything.
 *
 * KEYS[1] inflight, KEYS[2] done, KEYS[3] jobs.
 * ARGV[1] id, ARGV[2] lease token, ARGV[3] now.
 * Returns 1 when acked, 0 when the caller's lease is gone (expired and requeued, or never held).
 * Billed: 5 (EVALSHA, HGET, ZREM, ZADD, HSET); 2 when refused.
 */
export const ACK_SCRIPT = defineScript(
  'queue.ack',
  `
local raw = redis.call('HGET', KEYS[3], ARGV[1])
if not raw then return 0 end
local job = cjson.decode(raw)
if job.lease ~= ARGV[2] then return 0 end
if job.state == 'done' then return 1 end
if job.state ~= 'inflight' then return 0 end
job.state = 'done'
job.finishedAt = tonumber(ARGV[3])
job.leaseUntil = nil
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], cjson.encode(job))
return 1
`,
);

/**
 * Records a failed attempt, only for the holder of the current lease: back to delayed for a retry
 * after the backoff, or to the dead letters when the attempts are used up or the error is final.
 *
 * KEYS[1] inflight, KEYS[2] delayed, KEYS[3] dead, KEYS[4] jobs.
 * ARGV[1] id, ARGV[2] lease token, ARGV[3] now, ARGV[4] error text, ARGV[5] backoff ms,
 * ARGV[6] '1' retryable | '0' final.
 * Returns { 1, 'delayed' | 'dead', at } or { 0 } when the caller's lease is gone.
 * Billed: 5 (EVALSHA, HGET, ZREM, ZADD, HSET); 2 when refused.
 */
export const FAIL_SCRIPT = defineScript(
  'queue.fail',
  `
local raw = redis.call('HGET', KEYS[4], ARGV[1])
if not raw then return { 0 } end
local job = cjson.decode(raw)
if job.lease ~= ARGV[2] or job.state ~= 'inflight' then return { 0 } end
local now = tonumber(ARGV[3])
job.lastError = ARGV[4]
job.lease = nil
job.leaseUntil = nil
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[6] == '1' and job.attempts < job.maxAttempts then
  local at = now + tonumber(ARGV[5])
  job.state = 'delayed'
  job.runAt = at
  redis.call('ZADD', KEYS[2], at, ARGV[1])
  redis.call('HSET', KEYS[4], ARGV[1], cjson.encode(job))
  return { 1, 'delayed', at }
end
job.state = 'dead'
job.finishedAt = now
redis.call('ZADD', KEYS[3], now, ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], cjson.encode(job))
return { 1, 'dead', now }
`,
);

/**
 * Requeues up to ARGV[2] jobs whose lease ended (their worker died or timed out). The attempt was
 * counted at dequeue, so a job whose attempts are used up goes to the dead letters instead.
 *
 * KEYS[1] inflight, KEYS[2] ready, KEYS[3] dead, KEYS[4] jobs.
 * ARGV[1] now, ARGV[2] batch size.
 * Returns { requeued, deadLettered }.
 * Billed per batch: 2 when nothing expired; else 6-7 (EVALSHA, ZRANGEBYSCORE, HMGET, ZADD ready and/or
 * ZADD dead, ZREM, HSET), whatever the batch size.
 */
export const REQUEUE_EXPIRED_SCRIPT = defineScript(
  'queue.requeue-expired',
  `${BANDS}
local now = tonumber(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
if #ids == 0 then return { 0, 0 } end
local raws = redis.call('HMGET', KEYS[4], unpack(ids))
local ready, dead, records = {}, {}, {}
for i, id in ipairs(ids) do
  local raw = raws[i]
  if raw then
    local job = cjson.decode(raw)
    job.lease = nil
    job.leaseUntil = nil
    if job.attempts >= job.maxAttempts then
      job.state = 'dead'
      job.finishedAt = now
      job.lastError = 'lease expired: attempt ' .. job.attempts .. ' was neither acked nor failed in time'
      dead[#dead + 1] = now
      dead[#dead + 1] = id
    else
      job.state = 'ready'
      ready[#ready + 1] = BAND[job.priority] * BAND_WIDTH + now
      ready[#ready + 1] = id
    end
    records[#records + 1] = id
    records[#records + 1] = cjson.encode(job)
  end
end
redis.call('ZREM', KEYS[1], unpack(ids))
if #ready > 0 then redis.call('ZADD', KEYS[2], unpack(ready)) end
if #dead > 0 then redis.call('ZADD', KEYS[3], unpack(dead)) end
if #records > 0 then redis.call('HSET', KEYS[4], unpack(records)) end
return { #ready / 2, #dead / 2 }
`,
);

/**
 * Moves up to ARGV[2] delayed jobs that are due to ready, in the order they fell due.
 *
 * KEYS[1] delayed, KEYS[2] ready, KEYS[3] jobs.
 * ARGV[1] now, ARGV[2] batch size.
 * Returns the number promoted.
 * Billed per batch: 2 when nothing is due; else 6 (EVALSHA, ZRANGEBYSCORE, HMGET, ZREM, ZADD, HSET).
 */
export const PROMOTE_DUE_SCRIPT = defineScript(
  'queue.promote-due',
  `${BANDS}
local now = tonumber(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
if #ids == 0 then return 0 end
local members = {}
for i = 1, #ids, 2 do members[#members + 1] = ids[i] end
local raws = redis.call('HMGET', KEYS[3], unpack(members))
local ready, records = {}, {}
for i, id in ipairs(members) do
  local raw = raws[i]
  if raw then
    local job = cjson.decode(raw)
    job.state = 'ready'
    ready[#ready + 1] = BAND[job.priority] * BAND_WIDTH + tonumber(ids[i * 2])
    ready[#ready + 1] = id
    records[#records + 1] = id
    records[#records + 1] = cjson.encode(job)
  end
end
redis.call('ZREM', KEYS[1], unpack(members))
if #ready > 0 then redis.call('ZADD', KEYS[2], unpack(ready)) end
if #records > 0 then redis.call('HSET', KEYS[3], unpack(records)) end
return #ready / 2
`,
);

/**
 * Forgets up to ARGV[3] finished jobs per set that finished before the cutoffs: their ids, records
 * and idempotency keys (a key can be reused once its job is gone, as in BullMQ).
 *
 * KEYS[1] done, KEYS[2] dead, KEYS[3] jobs, KEYS[4] idem.
 * ARGV[1] done cutoff (epoch ms), ARGV[2] dead cutoff, ARGV[3] batch size.
 * Returns { done removed, dead removed }.
 * Billed: 3 when nothing is due; else up to 11 (per set ZRANGEBYSCORE, HMGET, ZREM, HDEL jobs,
 * HDEL idem).
 */
export const PRUNE_SCRIPT = defineScript(
  'queue.prune',
  `
local removed = {}
for s = 1, 2 do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[s], '-inf', ARGV[s], 'LIMIT', 0, tonumber(ARGV[3]))
  removed[s] = #ids
  if #ids > 0 then
    local raws = redis.call('HMGET', KEYS[3], unpack(ids))
    local idem = {}
    for i = 1, #ids do
      if raws[i] then
        local job = cjson.decode(raws[i])
        if job.idem then idem[#idem + 1] = job.idem end
      end
    end
    redis.call('ZREM', KEYS[s], unpack(ids))
    redis.call('HDEL', KEYS[3], unpack(ids))
    if #idem > 0 then redis.call('HDEL', KEYS[4], unpack(idem)) end
  end
end
return removed
`,
);

/**
 * Reads one job record.
 *
 * KEYS[1] jobs. ARGV[1] id.
 * Returns the record JSON or nil.
 * Billed: 2 (EVALSHA, HGET).
 */
export const STATUS_SCRIPT = defineScript(
  'queue.status',
  `
return redis.call('HGET', KEYS[1], ARGV[1])
`,
);

/**
 * Counts the jobs in each set.
 *
 * KEYS[1] ready, KEYS[2] delayed, KEYS[3] inflight, KEYS[4] done, KEYS[5] dead.
 * Returns { high, normal, low, delayed, inflight, done, dead }.
 * Billed: 8 (EVALSHA, 3 ZCOUNT, 4 ZCARD).
 */
export const STATS_SCRIPT = defineScript(
  'queue.stats',
  `${BANDS}
local out = {}
for _, band in ipairs({ BAND.high, BAND.normal, BAND.low }) do
  out[#out + 1] = redis.call('ZCOUNT', KEYS[1], band * BAND_WIDTH, '(' .. ((band + 1) * BAND_WIDTH))
end
for i = 2, 5 do out[#out + 1] = redis.call('ZCARD', KEYS[i]) end
return out
`,
);
