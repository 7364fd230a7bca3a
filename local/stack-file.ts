import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * `.local/stack.json`: how `npm run invoke` and `npm run api-key` find the stack `npm start`
 * runs. It holds endpoints and the function environment (no secret of any real system; the local
 * Upstash tokens are fixed names), never the API key. Readable by its owner only.
 * `LOCAL_STACK_FILE` moves it (tests use their own, so a running `npm start` is never touched).
 */
export const STACK_FILE = process.env.LOCAL_STACK_FILE || '.local/stack.json';

/** What the file holds. */
export interface StackFile {
  readonly pid: number;
  readonly url: string;
  readonly upstashUrl: string;
  readonly secretsUrl: string;
  readonly env: Readonly<Record<string, string>>;
}

export function writeStackFile(info: StackFile, path = STACK_FILE): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(info, null, 2));
  chmodSync(path, 0o600);
}

export function removeStackFile(path = STACK_FILE): void {
  rmSync(path, { force: true });
}

/**
 * The running stack's file.
 * @throws Error saying how to start one when there is none (or its process is gone)
 */
export function readStackFile(path = STACK_FILE): StackFile {
  let info: StackFile;
  try {
    info = JSON.parse(readFileSync(path, 'utf8')) as StackFile;
  } catch {
    throw new Error('no local stack is running: start it with `npm start` (in another terminal)');
  }
  try {
    process.kill(info.pid, 0);
  } catch {
    throw new Error(
      `the local stack recorded in ${path} (pid ${info.pid}) is not running: start it with \`npm start\``,
    );
  }
  return info;
}
