import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

/**
 * The local commands fail with one line that says what went wrong and what to do, and no stack
 * trace: the exact text of each, on stderr, and the exit code (2 for a bad flag, 1 otherwise).
 */

const dir = mkdtempSync(join(tmpdir(), 'cli-errors-'));
const env = {
  ...process.env,
  // No running stack: the file names nothing.
  LOCAL_STACK_FILE: join(dir, 'none.json'),
  PORT: '',
  REDIS_URL: '',
};

/** Runs a TypeScript entry point with node and tsx's loader: its exit code, stdout and stderr. */
function run(script: string, args: string[], extra: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { env: { ...env, ...extra } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, out, err })),
  );
}

describe('CLI errors: one line, what to do, no stack trace', () => {
  let busy: Server;
  let port = 0;

  beforeAll(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    port = (busy.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => busy.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('npm run upstash (upstash-local): a busy port, an unreachable Redis, a bad flag', async () => {
    const [taken, unreachable, flag, value] = await Promise.all([
      run('local/upstash-cli.ts', [
        '--port',
        String(port),
        '--token',
        't',
        '--redis-url',
        inject('redisUrl'),
      ]),
      run('local/upstash-cli.ts', ['--port', '0', '--token', 't', '--redis-url', 'redis://127.0.0.1:1']),
      run('local/upstash-cli.ts', ['--bogus']),
      run('local/upstash-cli.ts', ['--port', 'x', '--token', 't']),
    ]);
    expect(taken).toEqual({
      code: 1,
      out: '',
      err: `upstash-local: port ${port} is in use; stop what holds it, or choose another with --port (0 picks a free one)\n`,
    });
    expect(unreachable).toEqual({
      code: 1,
      out: '',
      err: 'upstash-local: cannot reach Redis (connect ECONNREFUSED 127.0.0.1:1); start one (redis-server) or point --redis-url at a Redis you can reach\n',
    });
    expect(flag).toEqual({
      code: 2,
      out: '',
      err: 'upstash-local: unknown option --bogus; upstash-local --help lists the options\n',
    });
    expect(value).toEqual({
      code: 2,
      out: '',
      err: 'upstash-local: --port must be a port number from 0 to 65535, got "x"\n',
    });
  });

  it('npm run api-key: no stack running, an unknown command, a missing value, an unknown flag', async () => {
    const [none, command, missing, flag] = await Promise.all([
      run('local/api-key-cli.ts', ['list']),
      run('local/api-key-cli.ts', ['rotate']),
      run('local/api-key-cli.ts', ['create']),
      run('local/api-key-cli.ts', ['list', '--tenat', 'acme']),
    ]);
    expect(none).toEqual({
      code: 1,
      out: '',
      err: 'npm run api-key: no local stack is running: start it with `npm start` (in another terminal)\n',
    });
    expect(command).toEqual({
      code: 2,
      out: '',
      err: 'npm run api-key: unknown command "rotate"; the commands are create, list and revoke (npm run api-key -- --help)\n',
    });
    expect(missing).toEqual({
      code: 2,
      out: '',
      err: 'npm run api-key: create needs --tenant <tenant>\n',
    });
    expect(flag).toEqual({
      code: 2,
      out: '',
      err: 'npm run api-key: unknown option --tenat; npm run api-key -- --help lists them\n',
    });
  });

  it('npm run migrate: an unknown target, an unreachable source, an unknown flag', async () => {
    const [target, source, flag] = await Promise.all([
      run('local/migrate-cli.ts', ['copy', '--from', 'redis://127.0.0.1:1', '--to', 'cache']),
      run('local/migrate-cli.ts', ['copy', '--from', 'redis://:pw@127.0.0.1:1', '--to', 'default'], {
        UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:1',
        UPSTASH_REDIS_REST_TOKEN: 'never-used',
      }),
      run('local/migrate-cli.ts', ['copy', '--form', 'redis://127.0.0.1:1']),
    ]);
    expect(target).toEqual({
      code: 1,
      out: '',
      err: 'npm run migrate: no database "cache" (known: default); outside the local stack, UPSTASH_DATABASES names them (docs/migration.md)\n',
    });
    // The password of --from is never echoed.
    expect(source).toEqual({
      code: 1,
      out: '',
      err: 'npm run migrate: cannot reach the source Redis redis://127.0.0.1:1 (connect ECONNREFUSED 127.0.0.1:1); check --from and that it runs\n',
    });
    expect(flag).toEqual({
      code: 2,
      out: '',
      err: 'npm run migrate: unknown option --form; npm run migrate -- --help lists them\n',
    });
  });

  it('npm start: its own flags, and a busy port for the API or the console', async () => {
    const redisUrl = inject('redisUrl');
    const [flag, value, api, consolePort] = await Promise.all([
      run('local/start.ts', ['--bogus']),
      run('local/start.ts', ['--port', 'abc']),
      run('local/start.ts', ['--port', String(port), '--no-scheduler'], { REDIS_URL: redisUrl }),
      run('local/start.ts', ['--port', '0', '--console-port', String(port), '--no-scheduler'], {
        REDIS_URL: redisUrl,
        LOCAL_STACK_FILE: join(dir, 'console-port.json'),
      }),
    ]);
    expect(flag).toEqual({
      code: 2,
      out: '',
      err: 'npm start: unknown option --bogus; npm start -- --help lists them\n',
    });
    expect(value).toEqual({
      code: 2,
      out: '',
      err: 'npm start: --port must be a port number from 0 to 65535, got "abc"\n',
    });
    expect(api).toEqual({
      code: 1,
      out: '',
      err: `npm start: could not start the local stack: port ${port} is in use; stop what holds it, or choose another with --port (0 picks a free one)\n`,
    });
    expect(consolePort).toEqual({
      code: 1,
      out: '',
      err: `npm start: port ${port} is in use; stop what holds it, or choose another with --console-port (0 picks a free one)\n`,
    });
  }, 60_000);
});
