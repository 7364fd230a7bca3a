import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../../lambda/shared/api-keys';
import { type RedisServer, startRedisServer } from '../../../local/redis-server';
import { send } from '../../helpers/http-client';

/**
 * No password, Upstash token or API-key secret in anything the local stack or its CLIs print:
 * `npm start` on a Redis that requires a password, with the handlers logging at INFO, driven
 * through good and bad requests and every CLI: its quiet terminal (one line per request), its
 * log file (the full JSON lines), the banner printed again on SIGUSR2, and what the console
 * serves (the page, its API, its event stream, a request's log lines). The one secret printed on
 * purpose is the development key, in the banner, and a minted key, once, by the CLI that minted it.
 */

const dir = mkdtempSync(join(tmpdir(), 'no-secrets-'));
const password = `pw-${randomBytes(8).toString('hex')}`;
const env = {
  ...process.env,
  LOCAL_STACK_FILE: join(dir, 'stack.json'),
  PORT: '',
  POWERTOOLS_LOG_LEVEL: 'INFO',
};

/** Runs a TypeScript entry point with node and tsx's loader; resolves with its exit and output. */
function run(
  script: string,
  args: string[],
  extraEnv: Record<string, string> = {},
): { child: ChildProcess; done: Promise<{ code: number | null; out: string }>; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    env: { ...env, ...extraEnv },
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const done = new Promise<{ code: number | null; out: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, out })),
  );
  return { child, done, output: () => out };
}

/** Resolves once `output()` contains `text`; rejects with what it printed after `timeoutMs`. */
async function printed(output: () => string, text: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!output().includes(text)) {
    if (Date.now() > deadline) throw new Error(`"${text}" not printed within ${timeoutMs} ms:\n${output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The secrets of this run found in `text`, by name (none expected). */
function secretsIn(text: string, extra: Record<string, string> = {}): string[] {
  const secrets: Record<string, string> = {
    password,
    'password (URL-encoded)': encodeURIComponent(password),
    ...extra,
  };
  const found = Object.entries(secrets)
    .filter(([, value]) => value !== '' && text.includes(value))
    .map(([name]) => name);
  // The local stack's Upstash tokens are `local-<database>-token`.
  if (/local-[A-Za-z0-9_-]+-token/.test(text)) found.push('an Upstash token');
  return found;
}

/** The first event of a Server-Sent Events stream (the console's `hello`), then the stream is closed. */
async function firstEvent(url: string): Promise<string> {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  while (!text.includes('\n\n')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString('utf8');
  }
  controller.abort();
  return text;
}

describe('the local stack and its CLIs print no secret', () => {
  let redis: RedisServer;
  let stack: ReturnType<typeof run>;
  let first = '';
  let banner = '';
  let url = '';
  let consoleUrl = '';
  const logFile = join(dir, 'handlers.jsonl');
  let devKey = '';

  beforeAll(async () => {
    redis = await startRedisServer({ password });
    stack = run('local/start.ts', ['--port', '0', '--no-scheduler', '--log-file', logFile], {
      REDIS_URL: redis.url,
    });
    await printed(stack.output, 'Ctrl-C stops everything');
    first = stack.output();
    url = /HTTP API\s+(http:\/\/\S+)/.exec(first)?.[1] as string;
    consoleUrl = /Console\s+(http:\/\/\S+)/.exec(first)?.[1] as string;
    devKey = /API key\s+(usk_\S+)/.exec(first)?.[1] as string;
    // The banner again, on demand: everything after it is checked for the dev key too.
    stack.child.kill('SIGUSR2');
    await printed(() => stack.output().slice(first.length), 'Ctrl-C stops everything');
    banner = stack.output();
  }, 120_000);
  afterAll(async () => {
    if (stack?.child.exitCode === null) stack.child.kill('SIGKILL');
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('npm start: the banner shows the Redis without its password and no Upstash token, and again on SIGUSR2', () => {
    expect(first).toContain(`Redis           redis://127.0.0.1:${redis.port}\n`);
    expect(secretsIn(banner)).toEqual([]);
    expect(devKey).toMatch(/^usk_/);
    expect(banner.slice(first.length).trim()).toBe(first.trim());
  });

  it('npm start: request logs, CLI runs and the shutdown print no secret, nor the dev key again', async () => {
    const headers = { 'x-api-key': devKey, 'content-type': 'application/json' };
    const answers = await Promise.all([
      send(`${url}/health`, { method: 'GET' }),
      send(`${url}/cache/a?ttlMs=60000`, { method: 'PUT', headers, body: '{"v":1}' }),
      send(`${url}/cache/missing`, { method: 'GET', headers }),
      send(`${url}/cache/a`, { method: 'PUT', headers, body: '{not json' }),
      send(`${url}/cache/a`, { method: 'GET', headers: { 'x-api-key': 'usk_wrong' } }),
      send(`${url}/cache/a`, { method: 'GET' }),
    ]);
    // What each path answers is other tests' business; here every path must run and log. Those
    // that reach Redis may answer the documented 503 when a loaded machine slows Redis past the
    // client's timeout: that path logs too, and must not leak either.
    const expected = [200, 200, 404, 400, 403, 401];
    answers.forEach((answer, i) => {
      expect(i < 3 ? [expected[i], 503] : [expected[i]]).toContain(answer.status);
    });

    const created = await run('local/api-key-cli.ts', ['create', '--tenant', 'acme']).done;
    expect(created.code, created.out).toBe(0);
    const minted = /^(usk_\S+)$/m.exec(created.out)?.[1] as string;
    expect(created.out.split(minted)).toHaveLength(2); // printed once
    // A copy from a Redis that wants the password (an empty database of it) into the stack.
    const from = `${redis.url}/5`;
    const clis = await Promise.all([
      run('local/api-key-cli.ts', ['list']).done,
      run('local/invoke.ts', ['api']).done,
      run('local/invoke.ts', ['maintenance']).done,
      run('local/migrate-cli.ts', ['copy', '--from', from, '--to', 'cache', '--match', 'none:*']).done,
      run('local/migrate-cli.ts', ['status', '--from', from, '--to', 'cache', '--match', 'none:*']).done,
    ]);
    for (const cli of clis) {
      // A handler run by invoke may give up on a Redis a loaded machine slowed past the client's
      // timeout: it exits 1 with that one line, another path whose output is checked below.
      if (cli.code === 1)
        expect(cli.out.trim().split('\n').at(-1)).toMatch(/^database "\w+" is unavailable \(timeout\)$/);
      else expect(cli.code, cli.out).toBe(0);
    }
    expect(clis[3]?.out).toContain(
      `copying none:* from redis://127.0.0.1:${redis.port}/5 to database "cache"`,
    );

    // What the console serves: its page, its API, its event stream and a request's log lines.
    const page = await send(`${consoleUrl}/`, { method: 'GET' });
    const script = await send(`${consoleUrl}/console.js`, { method: 'GET' });
    const info = await send(`${consoleUrl}/api/stack`, { method: 'GET' });
    const keysPage = await send(`${consoleUrl}/api/keys?tenant=dev&space=cache`, { method: 'GET' });
    const events = await firstEvent(`${consoleUrl}/events`);
    const hello = JSON.parse(/^data: (.*)$/m.exec(events)?.[1] ?? '{}') as { records: Array<{ id: string }> };
    expect(hello.records.length).toBeGreaterThan(0);
    const lines = await Promise.all(
      hello.records.map((r) => send(`${consoleUrl}/api/requests/${r.id}/lines`, { method: 'GET' })),
    );
    const logLines = lines.flatMap((r) => (r.json() as { lines: string[] }).lines).join('\n');
    const served = `${[page, script, info, keysPage].map((r) => r.text).join('\n')}\n${events}\n${logLines}`;
    expect([page.status, script.status, info.status, keysPage.status]).toEqual([200, 200, 200, 200]);
    expect(logLines).toContain('"level":"INFO"');

    stack.child.kill('SIGINT');
    const { code, out } = await stack.done;
    expect(code).toBe(0);
    const afterBanner = out.slice(banner.length);
    // The terminal is quiet: one line per request with its cost, no JSON log line.
    expect(afterBanner).toMatch(/^\d\d:\d\d:\d\d GET \/health 200 \d+ ms {2}\d+ cmd, \d+ rt, \d+ billed$/m);
    expect(afterBanner).not.toContain('"level":"INFO"');
    // The handlers did log (INFO), to the file: the check below reads real log lines.
    const logged = readFileSync(logFile, 'utf8');
    expect(logged).toMatch(/"level":"INFO"/);
    const keys = { 'the dev key': devKey, 'the minted key': minted };
    const hashes = { "the dev key's hash": hashApiKey(devKey), "the minted key's hash": hashApiKey(minted) };
    expect(secretsIn(afterBanner, { ...keys, ...hashes })).toEqual([]);
    expect(secretsIn(logged, { ...keys, ...hashes })).toEqual([]);
    expect(secretsIn(served, { ...keys, ...hashes })).toEqual([]);
    expect(secretsIn(created.out, { 'the dev key': devKey, ...hashes })).toEqual([]);
    for (const cli of clis) expect(secretsIn(cli.out, { ...keys, ...hashes })).toEqual([]);
  }, 120_000);

  it('npm run upstash: neither its ready line nor a bad --database echoes a token or password', async () => {
    const token = `tok-${randomBytes(8).toString('hex')}`;
    const bad = await run('local/upstash-cli.ts', ['--database', `${token}:${redis.url}`]).done;
    expect(bad.code).toBe(2);
    expect(bad.out.trim()).toMatch(/^upstash-local: --database wants <token>=<redis-url>/);
    expect(bad.out.trim().split('\n')).toHaveLength(1); // one line, no stack trace
    expect(secretsIn(bad.out, { token })).toEqual([]);

    const good = run('local/upstash-cli.ts', ['--port', '0', '--database', `${token}=${redis.url}`]);
    await printed(good.output, 'ready at');
    good.child.kill('SIGTERM');
    const { out } = await good.done;
    expect(secretsIn(out, { token })).toEqual([]);
  }, 120_000);
});
