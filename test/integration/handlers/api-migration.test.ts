import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import type * as ApiModule from '../../../lambda/handlers/api';
import { CacheService } from '../../../lambda/services/cache/cache-service';
import { KeyBuilder } from '../../../lambda/shared/keys';
import type { RedisLike } from '../../../lambda/shared/redis';
import { parseConfig, runtimeConfig } from '../../../lib/config';
import { apiEvent, bodyOf } from '../../helpers/http';
import { lambdaContext } from '../../helpers/lambda';
import { type MigratingDatabase, migratingDatabase } from '../../helpers/migration';
import { type CapturedOutput, captureOutput, leakedSecrets } from '../../helpers/output';
import { randomPrefix, sharedEndpoint } from '../../helpers/redis';

/**
 * The api function on a database in shadow migration, configured as the stacks configure it
 * (`UPSTASH_DATABASES` with `migration`): the runtime builds the router, the services do not
 * change, and the function publishes what the router saw.
 */
describe('api handler on a migrating database', () => {
  let db: MigratingDatabase;
  let oldRaw: IORedis;
  let api: typeof ApiModule;
  const prefix = randomPrefix();
  const { token } = sharedEndpoint();

  beforeAll(async () => {
    db = await migratingDatabase('shadow', {
      KEY_PREFIX: prefix,
      APP_CONFIG: JSON.stringify(runtimeConfig(parseConfig({ databases: { main: { secretName: 'm' } } }))),
      POWERTOOLS_METRICS_NAMESPACE: 'MigrationTest',
    });
    oldRaw = db.oldRaw;
    vi.resetModules();
    await (await import('../../../lambda/shared/runtime')).resetRuntimeForTests();
    api = await import('../../../lambda/handlers/api');
  });
  afterAll(async () => {
    await (await import('../../../lambda/shared/runtime')).resetRuntimeForTests();
    await db.stop();
  });

  it('writes through to the old Redis, serves from it, and publishes a shadow mismatch by pattern', async () => {
    const call = async (method: string, path: string, body?: unknown) =>
      api.handler(
        apiEvent({ method, path, tenant: 'acme', ...(body !== undefined ? { body } : {}) }),
        lambdaContext(),
      );
    expect((await call('PUT', '/cache/menu', ['soup'])).statusCode).toBe(200);
    // Where the cache keeps the value: asked of the cache, the one place that knows.
    const key = new CacheService({
      redis: { kind: 'upstash' } as RedisLike,
      keys: new KeyBuilder(prefix),
    }).keyOf('acme', 'menu');
    expect(await oldRaw.exists(key)).toBe(1);

    const output: CapturedOutput = captureOutput();
    try {
      const direct = new IORedis(inject('redisUrl'));
      await direct.set(key, (await direct.get(key))?.replace('soup', 'stew') ?? '');
      direct.disconnect();
      const read = await call('GET', '/cache/menu');
      expect(bodyOf(read).value).toEqual(['soup']); // the old Redis answers in shadow
    } finally {
      output.restore();
    }
    const text = output.text();
    expect(text).toContain('"ShadowMismatches":1');
    expect(text).toContain('"MigrationReadsLegacy"');
    const warning = text.split('\n').find((line) => line.includes('shadow mismatch'));
    expect(JSON.parse(warning ?? '{}')).toMatchObject({
      database: 'main',
      patterns: { [`${prefix}:cache:acme:*`]: 1 },
    });
    expect(text).not.toContain('stew');
    expect(leakedSecrets([token], text)).toEqual([]);
  });
});
