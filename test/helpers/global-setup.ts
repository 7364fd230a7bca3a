import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { type RedisServer, startRedisServer } from '../../local/redis-server';
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

/**
 * Starts one private Redis (or uses REDIS_URL) and one local Upstash endpoint over it for the
 * whole run. Tests isolate themselves with random key prefixes, never by flushing.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
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
  };
}
