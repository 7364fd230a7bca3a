import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSessionId, SessionService } from '../../../../lambda/services/sessions/session-service';
import {
  PayloadTooLargeError,
  UpstashUnavailableError,
  ValidationError,
} from '../../../../lambda/shared/errors';
import { KeyBuilder } from '../../../../lambda/shared/keys';
import type { UpstashRedisClient } from '../../../../lambda/shared/redis';
import type { UpstashEndpoint } from '../../../../local/upstash/server';
import { faultyRedis } from '../../../helpers/fault-redis';
import { privateEndpoint, randomPrefix, sharedRedis } from '../../../helpers/redis';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SessionService', () => {
  const redis = sharedRedis();
  const service = (options: Partial<ConstructorParameters<typeof SessionService>[0]> = {}) =>
    new SessionService({ redis, keys: new KeyBuilder(randomPrefix()), ...options });

  describe('create / get', () => {
    it('creates a session with a 32-byte base64url id and reads it back', async () => {
      const sessions = service();
      const created = await sessions.create('acme', 'alice', { role: 'admin', cart: [1, 2], note: null });
      expect(created.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(created.id, 'base64url')).toHaveLength(32);
      const read = await sessions.get('acme', created.id);
      // A read slides the idle expiry; everything else reads back as created.
      expect({ ...read, idleExpiresAt: 0 }).toEqual({ ...created, idleExpiresAt: 0 });
      expect(read?.idleExpiresAt).toBeGreaterThanOrEqual(created.idleExpiresAt);
    });

    it("reads forged, truncated and other tenants' ids as null", async () => {
      const sessions = service();
      const { id } = await sessions.create('acme', 'alice');
      expect(await sessions.get('globex', id)).toBeNull();
      expect(await sessions.get('acme', id.slice(0, -1))).toBeNull();
      expect(await sessions.get('acme', `${id.slice(0, -1)}*`)).toBeNull();
      expect(await sessions.get('acme', 'x'.repeat(43))).toBeNull();
      expect(await sessions.get('acme', '')).toBeNull();
      expect(await sessions.get('acme', '../../etc')).toBeNull();
      await expect(sessions.get('../acme', id)).rejects.toBeInstanceOf(ValidationError);
    });

    it('rejects data above maxDataBytes and writes nothing', async () => {
      const sessions = service({ maxDataBytes: 100 });
      await expect(sessions.create('acme', 'alice', { blob: 'x'.repeat(200) })).rejects.toBeInstanceOf(
        PayloadTooLargeError,
      );
      expect(await sessions.list('acme', 'alice')).toEqual([]);
    });
  });

  describe('timeouts', () => {
    it('slides the idle timeout on each read but never past the absolute lifetime', async () => {
      // The absolute lifetime is judged on the service's clock, moved by hand; the idle timeout
      // is Redis's own TTL, in real time, with a margin no loaded machine eats (2 s per read).
      let clock = Date.now();
      const sessions = service({ idleTtlMs: 3_000, absoluteTtlMs: 600_000, now: () => clock });
      const { id } = await sessions.create('acme', 'alice');
      const started = Date.now();
      // Reads every second keep it alive well past one idle period...
      for (let i = 0; i < 4; i++) {
        await sleep(1_000);
        expect(await sessions.get('acme', id)).not.toBeNull();
      }
      expect(Date.now() - started).toBeGreaterThan(3_000);
      // ...but not past the absolute lifetime, however active.
      clock += 600_000 - 1;
      expect(await sessions.get('acme', id)).not.toBeNull();
      clock += 1;
      expect(await sessions.get('acme', id)).toBeNull();
    });

    it('ends a session left idle', async () => {
      const sessions = service({ idleTtlMs: 150, absoluteTtlMs: 60_000 });
      const { id } = await sessions.create('acme', 'alice');
      await sleep(300);
      expect(await sessions.get('acme', id)).toBeNull();
    });
  });

  describe('update', () => {
    it('merges fields and removes those set to undefined', async () => {
      const sessions = service();
      const { id } = await sessions.create('acme', 'alice', { a: 1, b: 2 });
      const updated = await sessions.update('acme', id, { b: undefined, c: { deep: true } });
      expect(updated?.data).toEqual({ a: 1, c: { deep: true } });
    });

    it('keeps every field of concurrent updates', async () => {
      const sessions = service();
      const { id } = await sessions.create('acme', 'alice');
      await Promise.all(Array.from({ length: 50 }, (_, i) => sessions.update('acme', id, { [`f${i}`]: i })));
      const read = await sessions.get('acme', id);
      expect(Object.keys(read?.data ?? {})).toHaveLength(50);
      expect(read?.data.f49).toBe(49);
    });

    it('returns null for a session that is gone and does not resurrect it', async () => {
      const sessions = service();
      const { id } = await sessions.create('acme', 'alice');
      await sessions.destroy('acme', id);
      expect(await sessions.update('acme', id, { a: 1 })).toBeNull();
      expect(await sessions.get('acme', id)).toBeNull();
    });
  });

  describe('list / revokeAll / cap', () => {
    it("lists a user's live sessions and prunes ended ones from the index", async () => {
      const sessions = service();
      const a = await sessions.create('acme', 'alice');
      const b = await sessions.create('acme', 'alice');
      await sessions.create('acme', 'bob');
      await sessions.destroy('acme', a.id);
      expect((await sessions.list('acme', 'alice')).map((s) => s.id)).toEqual([b.id]);
      expect(await sessions.pruneUser('acme', 'alice')).toBe(1);
      expect(await sessions.list('globex', 'alice')).toEqual([]);
    });

    it('revokes all sessions of a user and none of another', async () => {
      const sessions = service();
      const ids = await Promise.all(Array.from({ length: 5 }, () => sessions.create('acme', 'alice')));
      const bob = await sessions.create('acme', 'bob');
      expect(await sessions.revokeAll('acme', 'alice')).toBe(5);
      for (const { id } of ids) expect(await sessions.get('acme', id)).toBeNull();
      expect(await sessions.list('acme', 'alice')).toEqual([]);
      expect(await sessions.get('acme', bob.id)).not.toBeNull();
    });

    it('evicts the oldest sessions beyond maxPerUser', async () => {
      let now = Date.now();
      const sessions = service({ maxPerUser: 3, now: () => now++ });
      const created = [];
      for (let i = 0; i < 5; i++) created.push(await sessions.create('acme', 'alice', { i }));
      expect(await sessions.get('acme', created[0]?.id ?? '')).toBeNull();
      expect(await sessions.get('acme', created[1]?.id ?? '')).toBeNull();
      expect((await sessions.list('acme', 'alice')).map((s) => s.data.i)).toEqual([2, 3, 4]);
    });

    it('holds the cap under concurrent creates', async () => {
      const sessions = service({ maxPerUser: 4 });
      const created = await Promise.all(Array.from({ length: 20 }, () => sessions.create('acme', 'alice')));
      const alive = (await Promise.all(created.map((s) => sessions.get('acme', s.id)))).filter(Boolean);
      expect(alive).toHaveLength(4);
      expect(await sessions.list('acme', 'alice')).toHaveLength(4);
    });
  });

  describe('a create whose answer is lost (503 semantics)', () => {
    const atCap = async () => {
      const faulty = faultyRedis(redis);
      let now = Date.now();
      const sessions = new SessionService({
        redis: faulty,
        keys: new KeyBuilder(randomPrefix()),
        maxPerUser: 3,
        now: () => now++,
      });
      const acknowledged = [];
      for (let i = 0; i < 3; i++) acknowledged.push((await sessions.create('acme', 'alice', { i })).id);
      return { faulty, sessions, acknowledged };
    };

    it('is fenced off when it had not run: 503 not-applied, and when it finally runs it creates and evicts nothing', async () => {
      const { faulty, sessions, acknowledged } = await atCap();
      // The create that would evict waits in a queue; the caller gets no answer.
      faulty.plan.push('up', 'hold');
      const error = await sessions.create('acme', 'alice', { late: true }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UpstashUnavailableError);
      expect((error as UpstashUnavailableError).outcome).toBe('not-applied');
      await faulty.release(); // the stuck create reaches Redis after all
      expect((await sessions.list('acme', 'alice')).map((s) => s.id)).toEqual(acknowledged);
    });

    it('is acknowledged when it had run: the session is returned, not a 503', async () => {
      const { faulty, sessions, acknowledged } = await atCap();
      // At the cap a create takes two calls (the first learns what to evict); the second one,
      // which creates and evicts, loses its answer.
      faulty.plan.push('up', 'lose-reply');
      const created = await sessions.create('acme', 'alice', { i: 3 });
      expect(await sessions.get('acme', created.id)).toMatchObject({ userId: 'alice', data: { i: 3 } });
      // It evicted the oldest, as an acknowledged create does.
      expect((await sessions.list('acme', 'alice')).map((s) => s.id)).toEqual([
        ...acknowledged.slice(1),
        created.id,
      ]);
    });

    it('says the outcome is unknown only while the database stays unreachable until settleBy', async () => {
      const { faulty, sessions } = await atCap();
      faulty.plan.push('hold');
      faulty.mode = 'down';
      const error = await sessions
        .create('acme', 'alice', {}, { settleBy: Date.now() + 300 })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UpstashUnavailableError);
      expect((error as UpstashUnavailableError).outcome).toBe('unknown');
      faulty.mode = 'up';
    });
  });

  describe('regenerate', () => {
    it('moves the session to a new id and invalidates the old one', async () => {
      const sessions = service();
      const old = await sessions.create('acme', 'alice', { role: 'user' });
      const renewed = await sessions.regenerate('acme', old.id);
      expect(renewed?.id).not.toBe(old.id);
      expect(await sessions.get('acme', old.id)).toBeNull();
      expect(await sessions.get('acme', renewed?.id ?? '')).toMatchObject({
        data: { role: 'user' },
        createdAt: old.createdAt,
      });
      expect((await sessions.list('acme', 'alice')).map((s) => s.id)).toEqual([renewed?.id]);
      expect(await sessions.regenerate('acme', old.id)).toBeNull();
    });

    it("with the request's token as the new id, a retry answers the session it moved", async () => {
      const sessions = service();
      const old = await sessions.create('acme', 'alice', { role: 'user' });
      const nextId = newSessionId();
      const first = await sessions.regenerate('acme', old.id, { nextId });
      expect(first?.id).toBe(nextId);
      const retry = await sessions.regenerate('acme', old.id, { nextId });
      expect(retry).toMatchObject({ id: nextId, data: { role: 'user' }, createdAt: old.createdAt });
      expect((await sessions.list('acme', 'alice')).map((s) => s.id)).toEqual([nextId]);
      // Without its token a retry cannot tell: the old id is gone.
      expect(await sessions.regenerate('acme', old.id)).toBeNull();
      await expect(sessions.regenerate('acme', nextId, { nextId: 'short' })).rejects.toThrow(ValidationError);
    });
  });

  describe('idle and absolute expiry', () => {
    it('shows both: the idle expiry moves with each read, never past the absolute one; a list shows what is left', async () => {
      let clock = 1_800_000_000_000;
      const sessions = service({ idleTtlMs: 60_000, absoluteTtlMs: 100_000, now: () => clock });
      const created = await sessions.create('acme', 'alice');
      expect(created).toMatchObject({
        createdAt: clock,
        expiresAt: clock + 100_000,
        idleExpiresAt: clock + 60_000,
      });
      clock += 50_000;
      const read = await sessions.get('acme', created.id);
      // Slid to now + idle, but the absolute expiry comes first.
      expect(read?.idleExpiresAt).toBe(created.expiresAt);
      clock += 1_000;
      const patched = await sessions.update('acme', created.id, { a: 1 });
      expect(patched?.idleExpiresAt).toBe(created.expiresAt);
      // Listing slides nothing: its idle expiry is what Redis has left of the TTL.
      const [listed] = await sessions.list('acme', 'alice');
      expect(listed?.idleExpiresAt).toBeLessThanOrEqual(clock + 49_000);
      expect(listed?.idleExpiresAt).toBeGreaterThan(clock + 40_000);
    });
  });

  describe("the request's token", () => {
    it('creates once per id: a re-run creates nothing, evicts nothing and answers the first session', async () => {
      const sessions = service({ maxPerUser: 1 });
      const id = newSessionId();
      const first = await sessions.create('acme', 'alice', { a: 1 }, { id });
      const again = await sessions.create('acme', 'alice', { a: 1 }, { id });
      expect(first.id).toBe(id);
      expect(again).toMatchObject({ id, createdAt: first.createdAt, data: { a: 1 } });
      expect((await sessions.list('acme', 'alice')).map((s) => s.id)).toEqual([id]);
      await expect(sessions.create('acme', 'alice', {}, { id: 'short' })).rejects.toThrow(ValidationError);
    });
  });

  describe('commands and round trips', () => {
    let endpoint: UpstashEndpoint;
    let own: UpstashRedisClient;
    let token: string;
    beforeAll(async () => {
      ({ endpoint, redis: own, token } = await privateEndpoint());
    });
    afterAll(() => endpoint.close());

    it('a get that slides the TTL is 1 command in 1 round trip', async () => {
      const sessions = new SessionService({ redis: own, keys: new KeyBuilder(randomPrefix()) });
      const { id } = await sessions.create('acme', 'alice');
      await sessions.get('acme', id); // warms the script
      endpoint.resetStats();
      expect(await sessions.get('acme', id)).not.toBeNull();
      expect(endpoint.stats(token)).toMatchObject({ requests: 1, commands: 1, byCommand: { EVALSHA: 1 } });
    });

    it('destroy is 1 command in 1 round trip', async () => {
      const sessions = new SessionService({ redis: own, keys: new KeyBuilder(randomPrefix()) });
      const { id } = await sessions.create('acme', 'alice');
      endpoint.resetStats();
      expect(await sessions.destroy('acme', id)).toBe(true);
      expect(endpoint.stats(token)).toMatchObject({ requests: 1, commands: 1 });
    });
  });
});
