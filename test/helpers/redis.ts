import { randomBytes } from 'node:crypto';
import { Redis } from '@upstash/redis';
import { inject } from 'vitest';
import { UpstashRedisClient } from '../../lambda/shared/redis';
import { startRedisServer } from '../../local/redis-server';
import { UpstashEndpoint } from '../../local/upstash/server';

/** A key prefix no other test uses: tests isolate by prefix, never by flushing. */
export const randomPrefix = (): string => `t${randomBytes(6).toString('hex')}`;

/** The shared endpoint's URL and the token of its state (db 0) or cache (db 1) database. */
export function sharedEndpoint(database: 'state' | 'cache' = 'state'): { url: string; token: string } {
  return { url: inject('upstashUrl'), token: inject(database === 'state' ? 'stateToken' : 'cacheToken') };
}

/** A raw `@upstash/redis` client configured as the runtime configures it. */
export function upstashClient(url: string, token: string): Redis {
  return new Redis({ url, token, automaticDeserialization: false, enableTelemetry: false, retry: false });
}

/** The runtime's {@link UpstashRedisClient} over the shared endpoint. */
export function sharedRedis(database: 'state' | 'cache' = 'state'): UpstashRedisClient {
  const { url, token } = sharedEndpoint(database);
  return new UpstashRedisClient(upstashClient(url, token));
}

/**
 * An endpoint of the test's own over the shared Redis, so it can count the commands and round
 * trips of exactly the operations under test. Close it in `afterAll`.
 */
export async function privateEndpoint(token = 'private-token'): Promise<{
  endpoint: UpstashEndpoint;
  redis: UpstashRedisClient;
  token: string;
}> {
  const endpoint = await UpstashEndpoint.start({ databases: [{ token, redisUrl: inject('redisUrl') }] });
  return { endpoint, redis: new UpstashRedisClient(upstashClient(endpoint.url, token)), token };
}

/** A Redis of the test's own behind an Upstash endpoint of its own (see {@link ownDatabase}). */
export interface OwnDatabase {
  /** The private redis-server's URL, for TCP clients (ioredis) and for looking inside. */
  readonly redisUrl: string;
  /** The endpoint's URL and token, for REST clients. */
  readonly url: string;
  readonly token: string;
  readonly endpoint: UpstashEndpoint;
  /** The runtime's {@link UpstashRedisClient} over the endpoint. */
  readonly redis: UpstashRedisClient;
  /** Closes the endpoint and stops the server: its data goes with it, nothing to clean. */
  close(): Promise<void>;
}

/**
 * A database no other test file sees: a private redis-server and an endpoint over it. For tests
 * that walk a whole database (SCAN, DBSIZE, KEYS), hold large numbers of keys, or change what the
 * server shares (SCRIPT FLUSH), so they neither slow nor disturb the tests on the shared Redis.
 * Close it in `afterAll`.
 */
export async function ownDatabase(token = 'own-token'): Promise<OwnDatabase> {
  const server = await startRedisServer();
  try {
    const endpoint = await UpstashEndpoint.start({ databases: [{ token, redisUrl: server.url }] });
    return {
      redisUrl: server.url,
      url: endpoint.url,
      token,
      endpoint,
      redis: new UpstashRedisClient(upstashClient(endpoint.url, token)),
      async close() {
        await endpoint.close();
        await server.stop();
      },
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}
