import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { startRedisServer } from '../../../local/redis-server';

/** The private redis-server the tests, `npm start` and the bench start. */
describe('startRedisServer', () => {
  it('never hands out a Redis it did not start: a port another server holds is an error', async () => {
    const first = await startRedisServer();
    try {
      await expect(startRedisServer({ port: first.port })).rejects.toThrow();
      // The first one is untouched and still answers.
      const client = new Redis(first.url);
      expect(await client.ping()).toBe('PONG');
      client.disconnect();
    } finally {
      await first.stop();
    }
  });

  it('requires AUTH when given a password, and its URL carries it', async () => {
    const server = await startRedisServer({ password: 'p@ss word' });
    try {
      expect(server.url).toBe(`redis://:p%40ss%20word@127.0.0.1:${server.port}`);
      const anonymous = new Redis(`redis://127.0.0.1:${server.port}`, {
        lazyConnect: true,
        enableReadyCheck: false,
      });
      anonymous.on('error', () => {});
      await anonymous.connect();
      await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
      anonymous.disconnect();
      const client = new Redis(server.url);
      expect(await client.ping()).toBe('PONG');
      client.disconnect();
    } finally {
      await server.stop();
    }
  });
});
