import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// Imported before LOCAL_STACK_FILE is changed below, as any module importing it would be.
import { readStackFile, removeStackFile, stackFilePath, writeStackFile } from '../../../local/stack-file';

/**
 * The stack file's location is read when it is used, not when the module loads: a test (or a
 * tool) that sets LOCAL_STACK_FILE after importing never touches the `.local/stack.json` of an
 * `npm start` running in the same directory.
 */
describe('stack file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stack-file-'));
  const before = process.env.LOCAL_STACK_FILE;
  afterAll(() => {
    process.env.LOCAL_STACK_FILE = before;
    rmSync(dir, { recursive: true, force: true });
  });

  it('follows LOCAL_STACK_FILE as it is when written, read and removed', () => {
    const path = join(dir, 'late', 'stack.json');
    process.env.LOCAL_STACK_FILE = path;
    const info = { pid: process.pid, url: 'http://127.0.0.1:1', upstashUrl: 'u', secretsUrl: 's', env: {} };

    writeStackFile(info);

    expect(stackFilePath()).toBe(path);
    expect(existsSync(path)).toBe(true);
    expect(readStackFile()).toEqual(info);
    removeStackFile();
    expect(existsSync(path)).toBe(false);
  });

  it('defaults to .local/stack.json when LOCAL_STACK_FILE is unset or empty', () => {
    process.env.LOCAL_STACK_FILE = '';
    expect(stackFilePath()).toBe('.local/stack.json');
    delete process.env.LOCAL_STACK_FILE;
    expect(stackFilePath()).toBe('.local/stack.json');
  });

  it('removes only a file that records this process: another stack started since keeps its file', () => {
    const path = join(dir, 'other.json');
    process.env.LOCAL_STACK_FILE = path;
    writeStackFile({ pid: process.pid + 1, url: 'x', upstashUrl: 'u', secretsUrl: 's', env: {} });

    removeStackFile(path, { ifPid: process.pid });
    expect(existsSync(path)).toBe(true);
    removeStackFile(path, { ifPid: process.pid + 1 });
    expect(existsSync(path)).toBe(false);
  });
});
