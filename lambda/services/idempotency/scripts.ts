import { defineScript } from '../../shared/scripts';

/*
 * An idempotency record is one string key per tenant and Idempotency-Key, JSON:
 *   running   {"s":"p","f":<fingerprint>,"t":<request token>,"l":<lease until, epoch ms>,"k":<lock>}
 *   done      {"s":"d","f":<fingerprint>,"r":<status>,"h":{<headers>},"b":<body text>}
 * The body is kept as a JSON string inside, so Lua never re-encodes what the route answered.
 * Every record lives for the configured lifetime (24 h by default) from when it was written.
 */

/**
 * Claims a request under its Idempotency-Key, in one step.
 * KEYS[1] the record. ARGV[1] fingerprint of the request, ARGV[2] now, ARGV[3] lease until (epoch
 * ms), ARGV[4] a fresh request token, ARGV[5] record lifetime ms, ARGV[6] a fresh lock.
 * Returns { 'run', token, resumed } when the caller runs the request: first (resumed 0, the fresh
 * token) or after a run whose lease ended without an answer (resumed 1, that run's token, so a
 * create re-run with it is a no-op that answers as the first); { 'replay', record } when a run
 * answered; { 'busy' } while a run holds its lease; { 'mismatch' } for another request.
 * Billed: 2 (GET) or 3 (+ SET).
 */
export const BEGIN_SCRIPT = defineScript(
  'idempotency.begin',
  `
local raw = redis.call('GET', KEYS[1])
if not raw then
  redis.call('SET', KEYS[1], cjson.encode({ s = 'p', f = ARGV[1], t = ARGV[4], l = tonumber(ARGV[3]), k = ARGV[6] }), 'PX', ARGV[5])
  return { 'run', ARGV[4], 0 }
end
local record = cjson.decode(raw)
if record.f ~= ARGV[1] then return { 'mismatch' } end
if record.s == 'd' then return { 'replay', raw } end
if tonumber(record.l) > tonumber(ARGV[2]) then return { 'busy' } end
record.l = tonumber(ARGV[3])
record.k = ARGV[6]
redis.call('SET', KEYS[1], cjson.encode(record), 'KEEPTTL')
return { 'run', record.t, 1 }
`,
);

/**
 * Ends the claim of a run that did not apply, if it still holds it: the record goes, so a retry
 * starts afresh (with a new token: the old one may be fenced off).
 * KEYS[1] the record. ARGV[1] the run's lock. Returns 1 when removed. Billed: 2 or 3 (GET, [DEL]).
 */
export const RELEASE_SCRIPT = defineScript(
  'idempotency.release',
  `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if record.s ~= 'p' or record.k ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`,
);

/**
 * Ends the lease of a run whose outcome is unknown, if it still holds it, keeping its token: a
 * retry resumes at once with the same token (a create re-run with it finds what the first did).
 * KEYS[1] the record. ARGV[1] the run's lock. Returns 1 when paused. Billed: 2 or 3 (GET, [SET]).
 */
export const PAUSE_SCRIPT = defineScript(
  'idempotency.pause',
  `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if record.s ~= 'p' or record.k ~= ARGV[1] then return 0 end
record.l = 0
redis.call('SET', KEYS[1], cjson.encode(record), 'KEEPTTL')
return 1
`,
);
