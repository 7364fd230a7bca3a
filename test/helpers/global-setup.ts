import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { type RedisServer, startRedisServer } from '../../local/redis-server';
import { stackFilePath } from '../../local/stack-file';
import { UpstashEndpoint } from '../../local/upstash/server';

/** Tokens of the two databases the shared endpoint serves (db 0: state, db 1: cache). */
export const STATE_TOKEN = 'test-state-token';
export const CACHE_TOKEN = 'test-cache-token';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    upstashUrl: string;
    stateToken: string;
    cacheToken: string;
    /** A directory for the run's temporary files, removed when the run ends. */
    scratchRoot: string;
  }
}

/** The stack file of an `npm start` running here, as it is: its mtime and bytes, or null. */
function stackFileState(path: string): string | null {
  try {
    return `${statSync(path).mtimeMs} ${readFileSync(path, 'utf8')}`;
  } catch {
    return null;
  }
}

/** Whether the process a stack file state records is still running. */
function recordedPidAlive(state: string | null): boolean {
  const pid = Number(/"pid":\s*(\d+)/.exec(state ?? '')?.[1]);
  try {
    return pid > 0 && process.kill(pid, 0);
  } catch {
    return false;
  }
}

/**
 * Starts one private Redis (or uses REDIS_URL) and one local Upstash endpoint over it for the
 * whole run. Tests isolate themselves with random key prefixes, never by flushing.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Tests use stack files of their own (test/helpers/isolation.ts): a running `npm start`'s must
  // be exactly as it was when the run ends.
  const runningStackFile = stackFilePath();
  const stackFileBefore = stackFileState(runningStackFile);
  let redis: RedisServer | undefined;
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    try {
      redis = await startRedisServer();
    } catch (error) {
      throw new Error(`The tests need a real Redis. ${(error as Error).message}`);
    }
    redisUrl = redis.url;
  }
  const base = redisUrl.replace(/\/\d*$/, '');
  const endpoint = await UpstashEndpoint.start({
    databases: [
      { token: STATE_TOKEN, redisUrl: `${base}/0` },
      { token: CACHE_TOKEN, redisUrl: `${base}/1` },
    ],
  });
  project.provide('redisUrl', `${base}/0`);
  project.provide('upstashUrl', endpoint.url);
  project.provide('stateToken', STATE_TOKEN);
  project.provide('cacheToken', CACHE_TOKEN);
  const scratchRoot = mkdtempSync(join(tmpdir(), 'upstash-state-tests-'));
  project.provide('scratchRoot', scratchRoot);
  return async () => {
    await endpoint.close();
    await redis?.stop();
    rmSync(scratchRoot, { recursive: true, force: true });
    // A stack stopped meanwhile removes its own file; any other change is a test's doing (or a
    // stack started during the run, which the message mentions).
    const stoppedMeanwhile = stackFileBefore !== null && !recordedPidAlive(stackFileBefore);
    if (!stoppedMeanwhile && stackFileState(runningStackFile) !== stackFileBefore) {
      process.exitCode = 1; // vitest only logs a teardown error; this fails the run
      throw new Error(
        `${runningStackFile} changed during the tests: a test wrote or removed the file of a running \`npm start\` (or one was started meanwhile)`,
      );
    }
  };
}
