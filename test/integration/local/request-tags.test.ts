import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_SCENARIO,
  httpScenarioClient,
  runStep,
  SCENARIO_CONFIG,
  type ScenarioClient,
  stepName,
} from '../../../bench/api-scenario';
import { costOf } from '../../../bench/lib';
import { type LocalApp, startLocalApp } from '../../../local/app';
import { type RedisServer, startRedisServer } from '../../../local/redis-server';
import { parseTag } from '../../../local/request-tags';
import type { ServedRequest } from '../../../local/upstash/server';
import { randomPrefix } from '../../helpers/redis';

/**
 * What the console shows for a request is what the database did for it: every request of the
 * bench's scenario runs through the stack on a Redis of this test's own, and the costs the local
 * endpoint reported under the request's tag (its commands, round trips, and billed commands with
 * every command a script ran, counted by the endpoint's sandbox) equal what the endpoint's
 * counters and Redis's `INFO commandstats` saw for that request.
 */
describe("each request's cost, tagged at the local endpoint", () => {
  let redis: RedisServer;
  let direct: IORedis;
  let app: LocalApp;
  let api: ScenarioClient;
  let requestId = '';
  const served: ServedRequest[] = [];
  let unobserve: () => void;

  beforeAll(async () => {
    redis = await startRedisServer();
    direct = new IORedis(redis.url, { lazyConnect: true });
    await direct.connect();
    app = await startLocalApp({
      port: 0,
      redisUrl: redis.url,
      keyPrefix: randomPrefix(),
      scheduler: false,
      config: SCENARIO_CONFIG,
    });
    unobserve = app.upstash.observe((request) => served.push(request));
    api = httpScenarioClient(app.url, app.apiKey, (headers) => {
      requestId = headers.get('apigw-requestid') ?? '';
    });
  }, 60_000);
  afterAll(async () => {
    unobserve?.();
    await app?.stop();
    direct?.disconnect();
    await redis?.stop();
  });

  it.each(API_SCENARIO.map((step, i) => [stepName(step), i] as const))(
    '%s, first call and warm',
    async (_name, index) => {
      const step = API_SCENARIO[index] as (typeof API_SCENARIO)[number];
      for (const n of [0, 1]) {
        const seen = await runStep(api, step, n, (request) => {
          served.length = 0;
          return costOf(app.upstash, app.tokens.main as string, direct, request);
        });
        const tagged = served.filter((s) => {
          const tag = parseTag(s.tag);
          return tag?.kind === 'api' && tag.id === requestId;
        });
        // Every round trip of the request carried its tag: none is left unattributed.
        expect(tagged).toHaveLength(served.length);
        expect(
          {
            commands: tagged.reduce((sum, s) => sum + s.commands, 0),
            roundTrips: tagged.length,
            billed: tagged.reduce((sum, s) => sum + s.billed, 0),
          },
          `${stepName(step)} #${n}`,
        ).toEqual({ commands: seen.commands, roundTrips: seen.roundTrips, billed: seen.billed });
      }
    },
  );
});
