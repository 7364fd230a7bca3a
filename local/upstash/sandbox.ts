import {
  channelPrefix,
  DB_OUT_OF_RANGE,
  functionPrefixes,
  NOT_AVAILABLE,
  NOT_AVAILABLE_IN_SCRIPTS,
  SUBCOMMANDS,
} from './policy';

/**
 * The Lua sandbox: one line of Lua put in front of every script and function library a token
 * sends, so that what runs inside Redis keeps to the token's database.
 *
 * Why a preamble and not Redis ACL users: an ACL user per database would make Redis itself refuse
 * SELECT, SWAPDB, MOVE, FLUSHALL and CONFIG inside scripts, but ACL rules cannot look at
 * arguments (COPY ... DB n, FLUSHALL as FLUSHDB, a channel name to scope, INFO's other databases),
 * need admin rights on the Redis and add users to a server the developer may share (REDIS_URL).
 * The preamble carries the same rules as the top level (policy.ts), costs about a microsecond per
 * script run (measured in docs/local.md), and needs nothing from the server.
 *
 * How it holds: Redis 7 compiles a script as one Lua function whose globals are read-only and
 * which has no `setfenv`, `getfenv` or `debug`. The preamble declares locals named `redis`, `_G`,
 * `rawget`, `loadstring` and `load` that shadow the globals for every line after it, nested
 * functions included. The script's `redis.call`/`redis.pcall` go through a check of the same
 * lists the top level uses; `_G.redis` and `rawget(_G, 'redis')` lead back to the checked table;
 * `loadstring`/`load` (whose chunks would see the real globals) are refused. The real `redis.call`
 * lives only in upvalues of the preamble's closures, which Lua code cannot reach without `debug`.
 * The preamble has no newline, so the script's line numbers in errors stay its own.
 */

const luaList = (names: readonly string[]): string => ` ${names.join(' ')} `;

const LOADSTRING_REFUSED =
  'loadstring and load are not available in scripts run by the local Upstash endpoint';

/**
 * Lua source of `function(R, RG, r, g)`: fills `r` (the script's `redis`) and `g` (its `_G`)
 * around the real API `R` and real globals `RG`, and returns `r, g, rawget, loadstring, load`.
 */
function builder(db: number): string {
  const refused = luaList([...NOT_AVAILABLE, ...NOT_AVAILABLE_IN_SCRIPTS]);
  const memory = luaList(SUBCOMMANDS.MEMORY ?? []);
  const special = luaList(['COPY', 'FLUSHALL', 'INFO', 'MEMORY', 'PUBLISH', 'SPUBLISH']);
  // Locals: C call, P pcall, E error, T type, U upper, F find, S gsub, N select, X unpack,
  // M setmetatable, W rawget, Z tostring, D what to do per command spelling (0: pass).
  // Kept lean: this runs on every script call (a closure or a table is an allocation).
  return [
    'function(R,RG,r,g)',
    'local C,P,E,T,U,F,S,N,X,M,W,Z=R.call,R.pcall,RG.error,RG.type,RG.string.upper,RG.string.find,RG.string.gsub,RG.select,RG.unpack,RG.setmetatable,RG.rawget,RG.tostring',
    `local NA,MEM,SP,CH,DB='${refused}','${memory}','${special}','${channelPrefix(db)}','${db}'`,
    'local D={}',
    'local function slow(f,c,...)',
    ' if c==nil then return f() end',
    ' local d=D[c]',
    " if d==nil then if T(c)~='string' then d=0 else local u=U(c) if F(NA,' '..u..' ',1,true) then d=1 elseif F(SP,' '..u..' ',1,true) then d=u else d=0 end end D[c]=d end",
    ' if d==0 then return f(c,...) end',
    ' local m',
    ' if d==1 then m="ERR Command is not available: \'"..c.."\'"',
    " elseif d=='FLUSHALL' then return f('FLUSHDB',...)",
    " elseif d=='MEMORY' then local s=... local su=T(s)=='string' and U(s) or Z(s) if F(MEM,' '..su..' ',1,true) then return f(c,...) end m=\"ERR Command is not available: '\"..c..' '..Z(s)..\"'\"",
    " elseif d=='INFO' then local v=f(c,...) if T(v)=='string' then v=(S(v,'db(%d+):([^\\r\\n]*)\\r\\n',function(i,rest) if i==DB then return 'db0:'..rest..'\\r\\n' end return '' end)) end return v",
    ' else local n=N("#",...) if n<2 then return f(c,...) end local a={...}',
    "  if d~='COPY' then a[1]=CH..Z(a[1]) return f(c,X(a,1,n)) end",
    '  local o,i,plain={a[1],a[2]},3,true',
    "  while i<=n do local t=T(a[i])=='string' and U(a[i]) or a[i]",
    `   if t=='DB' and i<n then if Z(a[i+1])~='0' then m='${DB_OUT_OF_RANGE}' break end i=i+2`,
    "   else if t~='REPLACE' then plain=false end o[#o+1]=a[i] i=i+1 end end",
    '  if m==nil then if plain and Z(a[1])==Z(a[2]) then return 0 end return f(c,X(o,1,#o)) end',
    ' end',
    ' if f==C then E({err=m}) end',
    ' return {err=m}',
    'end',
    // K counts the script's calls (what Upstash bills besides the EVAL itself); one addition each.
    'local K=0',
    'local A={call=function(c,...) K=K+1 if D[c]==0 then return C(c,...) end return slow(C,c,...) end,pcall=function(c,...) K=K+1 if D[c]==0 then return P(c,...) end return slow(P,c,...) end}',
    'M(A,{__index=R})',
    // Writes go to the real globals, which are read-only: Redis's own error, no closure needed.
    'M(r,{__index=A,__newindex=RG,__metatable=false})',
    'local function rg(t,k) if t==g then return g[k] end return W(t,k) end',
    `local function nl() return nil,'${LOADSTRING_REFUSED}' end`,
    'M(g,{__index=M({redis=r,_G=g,rawget=rg,loadstring=nl,load=nl},{__index=RG}),__newindex=RG,__metatable=false})',
    // The last value wraps the script's reply with the count: {K, reply}, an error reply as it is.
    "return r,g,rg,nl,nl,function(v) if T(v)=='table' and v.err~=nil then return v end return {K,v} end",
    'end',
  ].join(' ');
}

/**
 * The preamble of every script (EVAL, EVAL_RO, SCRIPT LOAD) a token of database `db` runs. The
 * script itself runs inside a function (closed by {@link SCRIPT_END}) so the preamble can answer
 * `{calls, reply}`: the number of commands the script ran (Upstash bills each, as Redis's
 * commandstats counts them), which the endpoint takes off again ({@link scriptReply}) before the
 * client sees the reply. An error reply passes through as it is (its calls go uncounted).
 */
export function scriptPreamble(db: number): string {
  return `local redis,_G,rawget,loadstring,load,__counted=(${builder(db)})(redis,_G,{},{}); return __counted((function() `;
}

/** What closes a script after {@link scriptPreamble}: on a line of its own (a trailing comment). */
export const SCRIPT_END = '\nend)())';

/**
 * A sandboxed script's reply split into the client's reply and the commands the script ran. Redis
 * turns a Lua `{calls, nil}` into `[calls]`, which is a nil reply. Anything else (an error) is the
 * client's as it is, with no calls counted.
 */
export function scriptReply(raw: unknown): { reply: unknown; calls: number } {
  if (Array.isArray(raw) && typeof raw[0] === 'number') return { reply: raw[1] ?? null, calls: raw[0] };
  return { reply: raw, calls: 0 };
}

/**
 * The preamble of every function library a token of database `db` loads. While a library loads,
 * Redis 7 exposes only `redis.register_function`, `redis.log` and a few constants (no other
 * globals), so the sandbox is built on the first call of one of its functions instead. Each
 * function is registered under the database's prefix, plus a read-only twin (`no-writes`) that
 * FCALL_RO calls: Upstash runs a function without the flag under FCALL_RO as long as it only
 * reads, and a write in the twin fails with Redis's "Write commands are not allowed from
 * read-only scripts".
 */
export function libraryPreamble(db: number): string {
  const { write, readOnly } = functionPrefixes(db);
  return [
    'local redis,_G,rawget,loadstring,load=(function(L,gr,gg)',
    'local r={log=L.log,LOG_DEBUG=L.LOG_DEBUG,LOG_VERBOSE=L.LOG_VERBOSE,LOG_NOTICE=L.LOG_NOTICE,LOG_WARNING=L.LOG_WARNING,REDIS_VERSION=L.REDIS_VERSION,REDIS_VERSION_NUM=L.REDIS_VERSION_NUM}',
    'local g,ready,rg,nl={},false,nil,nil',
    `local function init() if not ready then ready=true local _ _,_,rg,nl=(${builder(db)})(gr(),gg(),r,g) end end`,
    'local function wrap(cb) if cb==nil then return nil end return function(...) init() return cb(...) end end',
    `local WP,RP='${write}','${readOnly}'`,
    'r.register_function=function(a,b)',
    ' if b==nil and a~=nil and a.function_name~=nil then',
    "  local fl,ro,has=a.flags,{},false if fl~=nil then for i=1,#fl do ro[i]=fl[i] if fl[i]=='no-writes' then has=true end end end if not has then ro[#ro+1]='no-writes' end",
    '  local cb=wrap(a.callback)',
    '  L.register_function{function_name=WP..a.function_name,callback=cb,flags=fl,description=a.description}',
    '  return L.register_function{function_name=RP..a.function_name,callback=cb,flags=ro,description=a.description}',
    ' end',
    ' if b==nil then return L.register_function(a) end',
    ' local cb=wrap(b)',
    ' L.register_function(WP..a,cb)',
    " return L.register_function{function_name=RP..a,callback=cb,flags={'no-writes'}}",
    'end',
    'return r,g,function(t,k) init() return rg(t,k) end,function(...) init() return nl(...) end,function(...) init() return nl(...) end',
    'end)(redis,function() return redis end,function() return _G end); ',
  ].join(' ');
}

/** `#!lua name=<library>` and the rest of its line, then the line break. */
const LIBRARY_SHEBANG = /^#!lua[ \t]+name=([A-Za-z0-9_]+)([^\r\n]*)(\r?\n|$)/;

/**
 * Rewrites a library for FUNCTION LOAD: the name gets the database's prefix and the preamble goes
 * right after the shebang line. Returns undefined when the code has no `#!lua name=` line (Redis
 * then answers with its own error).
 */
export function rewriteLibrary(code: string, db: number): { code: string; name: string } | undefined {
  const match = LIBRARY_SHEBANG.exec(code);
  if (!match) return undefined;
  const [line, name, rest, eol] = match as unknown as [string, string, string, string];
  const { write } = functionPrefixes(db);
  return {
    name,
    code: `#!lua name=${write}${name}${rest}${eol || '\n'}${libraryPreamble(db)}${code.slice(line.length)}`,
  };
}

/** The code a client loaded, from what Redis holds (the inverse of {@link rewriteLibrary}). */
export function restoreLibrary(stored: string, db: number): string {
  const { write } = functionPrefixes(db);
  const match = LIBRARY_SHEBANG.exec(stored);
  if (!match?.[1]?.startsWith(write)) return stored;
  const [line, name, rest, eol] = match as unknown as [string, string, string, string];
  const preamble = libraryPreamble(db);
  let body = stored.slice(line.length);
  if (body.startsWith(preamble)) body = body.slice(preamble.length);
  // A library sent without a line break after its shebang got one.
  return `#!lua name=${name.slice(write.length)}${rest}${eol === '\n' && body === '' ? '' : eol}${body}`;
}
