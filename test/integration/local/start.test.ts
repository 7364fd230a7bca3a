import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { send } from '../../helpers/http-client';
import { portOpen } from '../../helpers/net';

/**
 * `npm start`, `npm run api-key` and `npm run invoke` as a user runs them: separate processes,
 * talking to each other through the stack file, and nothing left running after Ctrl-C.
 */

const dir = mkdtempSync(join(tmpdir(), 'start-'));
const stackFile = join(dir, 'stack.json');
const env = {
  ...process.env,
  LOCAL_STACK_FILE: stackFile,
  REDIS_URL: '',
  PORT: '',
  POWERTOOLS_LOG_LEVEL: 'WARN',
};

/** Runs a CLI to completion: node with tsx's loader, one process. */
function runCli(script: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

/** Pids of the redis-servers listening on `port` (Linux: from /proc; empty elsewhere). */
function redisPids(port: number): number[] {
  if (!existsSync('/proc/self/cmdline')) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      continue; // gone meanwhile
    }
    if (cmdline.includes('redis-server') && new RegExp(`[: ]${port}\\b`).test(cmdline))
      pids.push(Number(entry));
  }
  return pids;
}

/** Whether `pid` runs (a zombie, exited but not yet reaped by its new parent, does not). */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return !existsSync('/proc/self/stat'); // no /proc: kill(pid, 0) is all there is to go by
  }
};

/** Process groups the tests started (`npm start` runs detached), killed if a test failed midway. */
const groups: number[] = [];

/** Pids in one of `groups` whose command line matches `command` (Linux: from /proc). */
function groupMembers(groups: readonly number[], command: RegExp): number[] {
  if (!existsSync('/proc/self/stat')) return [];
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // pid (comm) state ppid pgrp ...: the comm may hold spaces, so read after its ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (groups.includes(pgrp) && command.test(cmdline)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/**
 * `npm start -- --port 0 --no-scheduler` as a user types it (npm, then node), in a process group
 * of its own as a terminal's job is; `output()` is what it printed so far.
 */
function npmStart(stackFile: string): { child: ChildProcess; output: () => string } {
  const child = spawn('npm', ['start', '--', '--port', '0', '--no-scheduler'], {
    env: { ...env, LOCAL_STACK_FILE: stackFile },
    detached: true,
  });
  if (child.pid) groups.push(child.pid);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return { child, output: () => out };
}

/** What a started stack runs: node's pid (from its stack file), its redis-server and its ports. */
function running(stackFile: string, out: string) {
  const redisPort = Number(/Redis\s+redis:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
  return {
    pid: (JSON.parse(readFileSync(stackFile, 'utf8')) as { pid: number }).pid,
    apiPort: Number(/HTTP API\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]),
    redisPort,
    redisPids: redisPids(redisPort),
  };
}

/** Waits until the stack `started` described is gone, then checks it left nothing behind. */
async function expectAllStopped(stackFile: string, started: ReturnType<typeof running>): Promise<void> {
  await expect.poll(() => alive(started.pid), { timeout: 60_000, interval: 100 }).toBe(false);
  expect(existsSync(stackFile)).toBe(false);
  for (const pid of started.redisPids) expect(alive(pid), `redis-server ${pid} still running`).toBe(false);
  expect(await portOpen(started.redisPort)).toBe(false);
  expect(await portOpen(started.apiPort)).toBe(false);
}

describe('npm start', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    // Only what is left of our own groups: members of the group that run npm, the stack or its
    // redis-server (a group id is a pid, and pids are reused once a group is gone).
    for (const pid of groupMembers(groups, /npm start|local\/start\.ts|redis-server/)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the API, works with the api-key and invoke CLIs, and stops everything on Ctrl-C', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts', '--port', '0', '--no-scheduler'], {
      env,
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    await expect.poll(() => out, { timeout: 60_000, interval: 100 }).toContain('Ctrl-C stops everything');
    const url = /HTTP API\s+(http:\/\/\S+)/.exec(out)?.[1] as string;
    const key = /API key\s+(usk_\S+)/.exec(out)?.[1] as string;
    const redisPort = Number(/Redis\s+redis:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(existsSync(stackFile)).toBe(true);
    // Readable by its owner only, and without the API key.
    expect(statSync(stackFile).mode & 0o777).toBe(0o600);
    const recorded = JSON.parse(readFileSync(stackFile, 'utf8')) as Record<string, unknown>;
    expect(Object.keys(recorded).sort()).toEqual([
      'consoleUrl',
      'env',
      'pid',
      'secretsUrl',
      'upstashUrl',
      'url',
    ]);
    expect(recorded.url).toBe(url);
    expect(readFileSync(stackFile, 'utf8')).not.toContain(key);

    expect((await send(`${url}/health`, { method: 'GET' })).status).toBe(200);
    const put = await send(`${url}/cache/hello?ttlMs=60000`, {
      method: 'PUT',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: '{"hi":"there"}',
    });
    expect(put.json()).toEqual({ key: 'hello', stored: true });

    const created = await runCli('local/api-key-cli.ts', [
      'create',
      '--tenant',
      'acme',
      '--scopes',
      'cache:read',
    ]);
    expect(created.code, created.err).toBe(0);
    const minted = /^(usk_\S+)$/m.exec(created.out)?.[1] as string;
    expect(minted).toBeDefined();
    const read = await send(`${url}/cache/hello`, { method: 'GET', headers: { 'x-api-key': minted } });
    expect(read.status).toBe(404); // another tenant's key: acme has no "hello"
    const listed = await runCli('local/api-key-cli.ts', ['list']);
    expect(listed.out).toMatch(/k_[0-9a-f]{8}\s+tenant=acme\s+scopes=cache:read/);
    expect(listed.out).not.toContain(minted);

    const invoked = await runCli('local/invoke.ts', ['maintenance']);
    expect(invoked.code, invoked.err).toBe(0);
    // The handler's own log and metric lines come first; the result follows its marker.
    expect(JSON.parse(invoked.out.split('--- maintenance result ---\n')[1] ?? '')).toMatchObject({
      queue: 'default',
      skipped: false,
    });

    const [health, authorizer, usage] = await Promise.all([
      runCli('local/invoke.ts', ['api']),
      runCli('local/invoke.ts', ['authorizer']),
      runCli('local/invoke.ts', []),
    ]);
    expect(health.code, health.err).toBe(0);
    expect(JSON.parse(health.out.split('--- api result ---\n')[1] ?? '')).toMatchObject({ statusCode: 200 });
    // Without a file the authorizer gets the example event, whose placeholder key is refused.
    expect(authorizer.code, authorizer.err).toBe(0);
    expect(JSON.parse(authorizer.out.split('--- authorizer result ---\n')[1] ?? '')).toEqual({
      isAuthorized: false,
    });
    expect(usage.code).toBe(2);
    expect(usage.err).toContain('Example events for every function: local/events/');

    expect(await portOpen(redisPort)).toBe(true);
    const pids = redisPids(redisPort);
    if (existsSync('/proc/self/cmdline')) expect(pids).toHaveLength(1);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child?.once('exit', resolve));
    expect(code).toBe(0);
    expect(out).toContain('stopped; nothing left running.');
    expect(await portOpen(redisPort)).toBe(false);
    for (const pid of pids) expect(alive(pid), `redis-server ${pid} still running`).toBe(false);
    expect(await portOpen(Number(new URL(url).port))).toBe(false);
    expect(existsSync(stackFile)).toBe(false);
    const after = await runCli('local/invoke.ts', ['api']);
    expect(after.code).toBe(1);
    expect(after.err).toContain('npm start');
  }, 120_000);

  it('stops everything when its terminal closes: SIGHUP to its process group, its output gone', async () => {
    const file = join(dir, 'hup.json');
    const { child: npm, output } = npmStart(file);
    await expect.poll(output, { timeout: 60_000, interval: 100 }).toContain('Ctrl-C stops everything');
    const started = running(file, output());
    expect(started.redisPids.length).toBe(existsSync('/proc/self/cmdline') ? 1 : 0);
    // The terminal is gone: nothing reads what the stack prints any more.
    npm.stdout?.destroy();
    npm.stderr?.destroy();
    process.kill(-(npm.pid as number), 'SIGHUP');
    await expectAllStopped(file, started);
  }, 120_000);

  it('stops everything on SIGTERM to npm, as `kill <pid>` sends it', async () => {
    const file = join(dir, 'term-npm.json');
    const { child: npm, output } = npmStart(file);
    await expect.poll(output, { timeout: 60_000, interval: 100 }).toContain('Ctrl-C stops everything');
    const started = running(file, output());
    npm.kill('SIGTERM');
    await expectAllStopped(file, started);
    await expect.poll(output, { timeout: 10_000, interval: 100 }).toContain('stopped; nothing left running.');
    expect(output()).toContain('SIGTERM: stopping the local stack');
  }, 120_000);

  it('says how to install redis-server when there is none, and exits 1', async () => {
    const started = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts', '--port', '0'], {
      env: { ...env, PATH: join(dir, 'empty-path') },
    });
    let text = '';
    started.stdout.on('data', (d: Buffer) => {
      text += d.toString();
    });
    started.stderr.on('data', (d: Buffer) => {
      text += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => started.on('close', resolve));
    expect(code).toBe(1);
    expect(text).toContain('apt-get install redis-server');
    expect(text).toContain('brew install redis');
    expect(existsSync(stackFile)).toBe(false);
  }, 60_000);

  it('uses REDIS_URL and PORT when set, and stops on SIGTERM leaving that Redis running', async () => {
    const redisUrl = inject('redisUrl');
    const started = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts', '--no-scheduler'], {
      env: { ...env, REDIS_URL: redisUrl, PORT: '0', LOCAL_STACK_FILE: join(dir, 'term.json') },
    });
    let text = '';
    started.stdout.on('data', (d: Buffer) => {
      text += d.toString();
    });
    started.stderr.on('data', (d: Buffer) => {
      text += d.toString();
    });
    await expect.poll(() => text, { timeout: 60_000, interval: 100 }).toContain('Ctrl-C stops everything');
    expect(text).toContain(`Redis           ${redisUrl}`);
    const url = /HTTP API\s+(http:\/\/\S+)/.exec(text)?.[1] as string;
    expect(Number(new URL(url).port)).not.toBe(3000);
    expect((await send(`${url}/health`, { method: 'GET' })).status).toBe(200);
    started.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => started.once('exit', resolve));
    expect(code).toBe(0);
    expect(await portOpen(Number(new URL(url).port))).toBe(false);
    expect(await portOpen(Number(new URL(redisUrl).port))).toBe(true);
  }, 120_000);
});
