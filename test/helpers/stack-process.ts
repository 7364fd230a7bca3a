import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type RawResponse, send } from './http-client';

/** `npm start` as a separate process, with what a test needs to drive it. */
export interface StackProcess {
  /** Base URL of its HTTP API. */
  readonly url: string;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Mints a key with every scope through `npm run api-key` (its code, in this process). */
  mintKey(tenant: string): Promise<string>;
  /** One request to the API. */
  call(method: string, path: string, key: string, body?: unknown, timeoutMs?: number): Promise<RawResponse>;
  /** SIGINT, and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Spawns `npm start` (node with tsx's loader, one process) on `redisUrl` with `PORT=0`, no
 * scheduler, no console and WARN logs, in full in its output (`--verbose`: the tests read the
 * handlers' JSON lines), and waits until its stack file is written. `dir` holds the stack file,
 * so a running `npm start` of the developer is never touched.
 */
export async function startStackProcess(options: { redisUrl: string; dir: string }): Promise<StackProcess> {
  const stackFile = join(options.dir, 'stack.json');
  const env = {
    ...process.env,
    REDIS_URL: options.redisUrl,
    PORT: '0',
    LOCAL_STACK_FILE: stackFile,
    POWERTOOLS_LOG_LEVEL: 'WARN',
  };
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'local/start.ts', '--no-scheduler', '--no-console', '--verbose'],
    {
      env,
    },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 60_000;
  while (!existsSync(stackFile)) {
    if (child.exitCode !== null) throw new Error(`npm start exited:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`npm start did not come up within 60 s:\n${out}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const { url } = JSON.parse(readFileSync(stackFile, 'utf8')) as { url: string };
  // The CLI finds the stack through LOCAL_STACK_FILE, read when its module loads.
  process.env.LOCAL_STACK_FILE = stackFile;
  const cli = await import('../../local/api-key-cli');
  return {
    url,
    output: () => out,
    async mintKey(tenant) {
      const lines: string[] = [];
      const code = await cli.main(['create', '--tenant', tenant], (line) => lines.push(line));
      const key = lines.find((line) => line.startsWith('usk_'));
      if (code !== 0 || !key) throw new Error(`api-key create failed: ${lines.join('\n')}`);
      return key;
    },
    call: (method, path, key, body, timeoutMs = 60_000) =>
      send(`${url}${path}`, {
        method,
        timeoutMs,
        headers: {
          'x-api-key': key,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
