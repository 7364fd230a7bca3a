import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * `.local/stack.json`: how `npm run invoke`, `npm run api-key` and `npm run migrate` find the
 * stack `npm start` runs. It holds endpoints and the function environment (no secret of any real
 * system; the local Upstash tokens are fixed names), never the API key. Readable by its owner only.
 */

/** Where the file is unless `LOCAL_STACK_FILE` says otherwise (relative to the working directory). */
export const DEFAULT_STACK_FILE = '.local/stack.json';

/**
 * The file's path: `LOCAL_STACK_FILE` when set, else {@link DEFAULT_STACK_FILE}. Read at each call,
 * not when the module loads, so whoever sets the variable after importing (a test, a tool) never
 * touches the file of an `npm start` running in the same directory.
 */
export const stackFilePath = (): string => process.env.LOCAL_STACK_FILE || DEFAULT_STACK_FILE;

/** What the file holds. */
export interface StackFile {
  readonly pid: number;
  readonly url: string;
  readonly upstashUrl: string;
  readonly secretsUrl: string;
  readonly env: Readonly<Record<string, string>>;
  /** The console's URL, when it runs. */
  readonly consoleUrl?: string;
}

export function writeStackFile(info: StackFile, path = stackFilePath()): void {
  mkdirSync(dirname(path), { recursive: true });
  // Written whole, then renamed into place: a reader never sees half a file, only none or all.
  const partial = `${path}.${process.pid}.tmp`;
  writeFileSync(partial, JSON.stringify(info, null, 2), { mode: 0o600 });
  renameSync(partial, path);
}

/**
 * Removes the file. With `ifPid`, only when it records that process: a stack started since in the
 * same directory keeps its file. Synchronous, so it can run in an `exit` handler.
 */
export function removeStackFile(path = stackFilePath(), options: { ifPid?: number } = {}): void {
  if (options.ifPid !== undefined) {
    let recorded: unknown;
    try {
      recorded = (JSON.parse(readFileSync(path, 'utf8')) as Partial<StackFile>).pid;
    } catch {
      return; // gone already, or not ours to judge
    }
    if (recorded !== options.ifPid) return;
  }
  rmSync(path, { force: true });
}

/**
 * The running stack's file.
 * @throws Error saying how to start one when there is none (or its process is gone)
 */
export function readStackFile(path = stackFilePath()): StackFile {
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
