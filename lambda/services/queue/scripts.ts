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
 *   per tenant ZSET  score = createdAt: the tenant's job ids, newest last (listing, redrive of a
 *                   type); the only per-tenant key, passed by the scripts that know the tenant
 *                   (enqueue, list, redrive); ids of pruned jobs are removed after the prune and
 *                   by the list script when it meets one
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
 * With a receipt (an `Idempotency-Key` record), writes it in the same step when the job is added.
 *
 * KEYS[1] jobs, KEYS[2] idem, KEYS[3] ready, KEYS[4] delayed, KEYS[5] the id's fence, KEYS[6] the
 * tenant's index, KEYS[7] the receipt's key (or KEYS[6] again when there is none).
 * ARGV[1] id, ARGV[2] record JSON (state already 'ready' or 'delayed'), ARGV[3] idem field or '',
 * ARGV[4] score: the ready score, or the due time when ARGV[5] is '1' (delayed), ARGV[6] createdAt,
 * ARGV[7] receipt value or '', ARGV[8] receipt TTL ms.
 * Returns { id, state }: state 0 added, 1 duplicate (another job holds the idempotency key),
 * 2 fenced (nothing added), 3 added by an earlier run of this call (its first answer holds).
 * Billed: 5 (EVALSHA, EXISTS, HSETNX, ZADD, ZADD index); 7 with an idempotency key (+ HGET, HSET);
 * +1 with a receipt; 3 for a duplicate.
 */
export const ENQUEUE_SCRIPT = defineScript(
  'queue.enqueue',
  `
if redis.call('EXISTS', KEYS[5]) == 1 then return { ARGV[1], 2 } end
if ARGV[3] ~= '' then
  local existing = redis.call('HGET', KEYS[2], ARGV[3])
  if existing == ARGV[1] then return { ARGV[1], 3 } end
  if existing then return { existing, 1 } end
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return { ARGV[1], 3 } end
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
else
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
end
redis.call('ZADD', KEYS[6], ARGV[6], ARGV[1])
if ARGV[7] ~= '' then redis.call('SET', KEYS[7], ARGV[7], 'PX', ARGV[8]) end
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
 * Completes a job, only for the holder of its current lease, keeping what its handler returned.
 * Acking again with the same lease (a network retry) answers 1 without changing anything.
 *
 * KEYS[1] inflight, KEYS[2] done, KEYS[3] jobs.
 * ARGV[1] id, ARGV[2] lease token, ARGV[3] now, ARGV[4] the result as JSON text, or '' for none.
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
if ARGV[4] ~= '' then job.result = ARGV[4] end
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
 * and idempotency keys (a key can be reused once its job is gone, as in BullMQ). The tenants'
 * indexes are not among the fixed keys: the caller removes the ids it returns from them.
 *
 * KEYS[1] done, KEYS[2] dead, KEYS[3] jobs, KEYS[4] idem.
 * ARGV[1] done cutoff (epoch ms), ARGV[2] dead cutoff, ARGV[3] batch size.
 * Returns { done removed, dead removed, tenant, id, tenant, id, ... }.
 * Billed: 3 when nothing is due; else up to 11 (per set ZRANGEBYSCORE, HMGET, ZREM, HDEL jobs,
 * HDEL idem). Removing the returned ids from the tenants' indexes costs one UNINDEX per tenant,
 * all in one round trip.
 */
export const PRUNE_SCRIPT = defineScript(
  'queue.prune',
  `
local removed = { 0, 0 }
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
        removed[#removed + 1] = job.tenant
        removed[#removed + 1] = ids[i]
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

/** Walks a sorted set from a cursor, in Lua: shared by the scripts that page through one. */
const WALK = `
-- The entries after the cursor (score ARGV_SCORE, member ARGV_ID; '' for the start), at most
-- budget of them, in the given direction. Members tied with the cursor's score are ordered by
-- member, so the ones up to the cursor's are skipped: ZCOUNT says how many ties to read past.
local function walk(key, cursorScore, cursorId, budget, descending)
  local skip, bound = 0, descending and '+inf' or '-inf'
  if cursorScore ~= '' then
    skip = redis.call('ZCOUNT', key, cursorScore, cursorScore)
    bound = cursorScore
  end
  local entries
  if descending then
    entries = redis.call('ZREVRANGEBYSCORE', key, bound, '-inf', 'WITHSCORES', 'LIMIT', 0, skip + budget)
  else
    entries = redis.call('ZRANGEBYSCORE', key, bound, '+inf', 'WITHSCORES', 'LIMIT', 0, skip + budget)
  end
  local ids, scores, unseen, cursorNumber = {}, {}, 0, tonumber(cursorScore)
  for i = 1, #entries, 2 do
    local id, score = entries[i], entries[i + 1]
    local seen = cursorNumber ~= nil and tonumber(score) == cursorNumber
      and ((descending and id >= cursorId) or (not descending and id <= cursorId))
    if not seen then
      unseen = unseen + 1
      if #ids < budget then
        ids[#ids + 1] = id
        scores[#scores + 1] = score
      end
    end
  end
  -- More may follow when the read was full, or when it held more than the budget takes.
  return ids, scores, #entries / 2 >= skip + budget or unseen > #ids
end
`;

/**
 * One page of a tenant's jobs, newest first, optionally of one state and one type. Reads at most
 * ARGV[4] index entries per call (so a page costs the same whatever the tenant holds) and drops
 * index entries whose job was pruned; a page may hold fewer than ARGV[3] jobs while the cursor
 * says more may follow.
 *
 * KEYS[1] the tenant's index, KEYS[2] jobs.
 * ARGV[1] cursor score or '', ARGV[2] cursor id or '', ARGV[3] page size, ARGV[4] entries to read
 * at most, ARGV[5] state or '', ARGV[6] type or ''.
 * Returns { next score or '', next id or '', record JSON... }.
 * Billed: 3 to 5 (EVALSHA, [ZCOUNT,] ZREVRANGEBYSCORE, HMGET, [ZREM]), whatever the page size.
 */
export const LIST_SCRIPT = defineScript(
  'queue.list',
  `${WALK}
local limit, state, jobType = tonumber(ARGV[3]), ARGV[5], ARGV[6]
local ids, scores, more = walk(KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[4]), true)
local out = { '', '' }
if #ids == 0 then return out end
local raws = redis.call('HMGET', KEYS[2], unpack(ids))
local gone, found, lastScore, lastId = {}, 0, '', ''
for i, id in ipairs(ids) do
  local raw = raws[i]
  if not raw then
    gone[#gone + 1] = id
  else
    local job = cjson.decode(raw)
    if (state == '' or job.state == state) and (jobType == '' or job.type == jobType) then
      out[#out + 1] = raw
      found = found + 1
    end
  end
  lastScore, lastId = scores[i], id
  if found == limit then
    more = more or i < #ids
    break
  end
end
if #gone > 0 then redis.call('ZREM', KEYS[1], unpack(gone)) end
if more then
  out[1] = lastScore
  out[2] = lastId
end
return out
`,
);

/**
 * Cancels a job of the tenant that has not started: ready or delayed. It goes to the done set as
 * \`cancelled\` (pruned with the completed jobs).
 *
 * KEYS[1] jobs, KEYS[2] ready, KEYS[3] delayed, KEYS[4] done.
 * ARGV[1] id, ARGV[2] tenant, ARGV[3] now, ARGV[4] the types the caller may act on, as
 * ",type,type," ('*' for all).
 * Returns { 1, record } cancelled; { 0 } no such job of the tenant; { 2, state } not cancellable;
 * { 3, type } a type the caller may not act on.
 * Billed: 5 (EVALSHA, HGET, ZREM, ZADD, HSET); 2 when refused.
 */
export const CANCEL_SCRIPT = defineScript(
  'queue.cancel',
  `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return { 0 } end
local job = cjson.decode(raw)
if job.tenant ~= ARGV[2] then return { 0 } end
if ARGV[4] ~= '*' and not string.find(ARGV[4], ',' .. job.type .. ',', 1, true) then return { 3, job.type } end
if job.state == 'ready' then
  redis.call('ZREM', KEYS[2], ARGV[1])
elseif job.state == 'delayed' then
  redis.call('ZREM', KEYS[3], ARGV[1])
else
  return { 2, job.state }
end
job.state = 'cancelled'
job.finishedAt = tonumber(ARGV[3])
job.runAt = nil
local out = cjson.encode(job)
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], out)
return { 1, out }
`,
);

/**
 * Gives dead letters a new run: back to ready with their attempts reset (the last error stays
 * until the next failure). Either one job (ARGV[1] its id), or every dead job met while walking
 * a sorted set from a cursor (ARGV[1] ''), filtered by type and tenant.
 *
 * KEYS[1] the set walked (a tenant's index, or the dead set), KEYS[2] jobs, KEYS[3] dead,
 * KEYS[4] ready.
 * ARGV[1] one job id or '', ARGV[2] cursor score or '', ARGV[3] cursor id or '', ARGV[4] entries
 * to read at most, ARGV[5] type or '', ARGV[6] tenant or '' (any), ARGV[7] now, ARGV[8] the types
 * the caller may act on, as ",type,type," ('*' for all).
 * One job: { 1, record } redriven, { 0 } no such job of the tenant, { 2, state } not dead,
 * { 3, type } a type the caller may not act on. A walk: { redriven, next score or '', next id or '' }.
 * Billed: one job 6 (EVALSHA, HGET, ZREM, ZADD, HSET); a walk 3 to 4 plus 3 per job redriven
 * (HMGET once; ZREM, ZADD and HSET each once for the whole batch).
 */
export const REDRIVE_SCRIPT = defineScript(
  'queue.redrive',
  `${BANDS}
${WALK}
local now, allowed = tonumber(ARGV[7]), ARGV[8]
local function permitted(job)
  return allowed == '*' or string.find(allowed, ',' .. job.type .. ',', 1, true) ~= nil
end
local function revive(job)
  job.state = 'ready'
  job.attempts = 0
  job.finishedAt = nil
  job.runAt = nil
  return BAND[job.priority] * BAND_WIDTH + now
end
if ARGV[1] ~= '' then
  local raw = redis.call('HGET', KEYS[2], ARGV[1])
  if not raw then return { 0 } end
  local job = cjson.decode(raw)
  if ARGV[6] ~= '' and job.tenant ~= ARGV[6] then return { 0 } end
  if not permitted(job) then return { 3, job.type } end
  if job.state ~= 'dead' then return { 2, job.state } end
  local score = revive(job)
  local out = cjson.encode(job)
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZADD', KEYS[4], score, ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], out)
  return { 1, out }
end
local ids, scores, more = walk(KEYS[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), false)
if #ids == 0 then return { 0, '', '' } end
local raws = redis.call('HMGET', KEYS[2], unpack(ids))
local moved, ready, records = {}, {}, {}
for i, id in ipairs(ids) do
  local raw = raws[i]
  if raw then
    local job = cjson.decode(raw)
    if job.state == 'dead' and (ARGV[5] == '' or job.type == ARGV[5])
      and (ARGV[6] == '' or job.tenant == ARGV[6]) and permitted(job) then
      ready[#ready + 1] = revive(job)
      ready[#ready + 1] = id
      moved[#moved + 1] = id
      records[#records + 1] = id
      records[#records + 1] = cjson.encode(job)
    end
  end
end
if #moved > 0 then
  redis.call('ZREM', KEYS[3], unpack(moved))
  redis.call('ZADD', KEYS[4], unpack(ready))
  redis.call('HSET', KEYS[2], unpack(records))
end
if more then return { #moved, scores[#scores], ids[#ids] } end
return { #moved, '', '' }
`,
);

/**
 * Removes pruned job ids from one tenant's index (after PRUNE_SCRIPT).
 * KEYS[1] the tenant's index. ARGV the ids. Billed: 2 (EVALSHA, ZREM).
 */
export const UNINDEX_SCRIPT = defineScript(
  'queue.unindex',
  `
return redis.call('ZREM', KEYS[1], unpack(ARGV))
`,
);

/**
 * Drops a dead letter of a tenant for good: its record, its place in the dead set and in the
 * tenant's index, and its idempotency key.
 *
 * KEYS[1] jobs, KEYS[2] dead, KEYS[3] the tenant's index, KEYS[4] idem.
 * ARGV[1] id, ARGV[2] tenant, ARGV[3] the types the caller may act on, as ",type,type," ('*' for all).
 * Returns { 1, record } dropped; { 0 } no such job of the tenant; { 2, state } not a dead letter;
 * { 3, type } a type the caller may not act on.
 * Billed: 5 (EVALSHA, HGET, HDEL, ZREM, ZREM), 6 with an idempotency key; 2 when refused.
 */
export const DROP_SCRIPT = defineScript(
  'queue.drop',
  `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return { 0 } end
local job = cjson.decode(raw)
if job.tenant ~= ARGV[2] then return { 0 } end
if ARGV[3] ~= '*' and not string.find(ARGV[3], ',' .. job.type .. ',', 1, true) then return { 3, job.type } end
if job.state ~= 'dead' then return { 2, job.state } end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if job.idem then redis.call('HDEL', KEYS[4], job.idem) end
return { 1, raw }
`,
);

/**
 * Counts the jobs of each type in the ready, delayed, in-flight and dead sets, reading at most
 * ARGV[1] jobs of each set (the oldest first).
 *
 * KEYS[1] ready, KEYS[2] delayed, KEYS[3] inflight, KEYS[4] dead, KEYS[5] jobs. ARGV[1] limit.
 * Returns the JSON of { counts = { [type] = { ready, delayed, inFlight, dead } }, truncated = bool }.
 * Billed: 1 + 4 ZRANGE + one HMGET per non-empty set + 4 ZCARD.
 */
export const COUNTS_BY_TYPE_SCRIPT = defineScript(
  'queue.counts-by-type',
  `
local names = { 'ready', 'delayed', 'inFlight', 'dead' }
local limit = tonumber(ARGV[1])
local counts, truncated = {}, false
for s = 1, 4 do
  local ids = redis.call('ZRANGE', KEYS[s], 0, limit - 1)
  if redis.call('ZCARD', KEYS[s]) > #ids then truncated = true end
  if #ids > 0 then
    local raws = redis.call('HMGET', KEYS[5], unpack(ids))
    for i = 1, #ids do
      if raws[i] then
        local t = cjson.decode(raws[i]).type
        local c = counts[t]
        if not c then
          c = { ready = 0, delayed = 0, inFlight = 0, dead = 0 }
          counts[t] = c
        end
        c[names[s]] = c[names[s]] + 1
      end
    end
  end
end
return cjson.encode({ counts = counts, truncated = truncated })
`,
);
