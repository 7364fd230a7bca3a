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
import { emittedSum } from '../../helpers/metrics-contract';
import { type CapturedOutput, captureOutput } from '../../helpers/output';
import { randomPrefix } from '../../helpers/redis';

/**
 * The client layer's usage counts are the endpoint's, exactly: the bench's scenario (one request
 * per API route) runs through the local stack on a Redis of this test's own, and for every request
 * the commands, round trips and billed commands the api function published as EMF (and wrote on
 * its log line) must equal what the local Upstash endpoint counted and what `INFO commandstats`
 * says Redis executed (a script: EVALSHA plus each command it ran, as Upstash bills).
 */
describe('usage counts: what the api function publishes is what the database saw', () => {
  let redis: RedisServer;
  let direct: IORedis;
  let stack: LocalApp;
  let token: string;
  let api: ScenarioClient;

  beforeAll(async () => {
    // Its own Redis: INFO commandstats counts the whole server, so no other test may share it.
    redis = await startRedisServer();
    direct = new IORedis(redis.url, { lazyConnect: true });
    await direct.connect();
    stack = await startLocalApp({
      port: 0,
      redisUrl: redis.url,
      keyPrefix: randomPrefix(),
      scheduler: false,
      config: SCENARIO_CONFIG,
    });
    token = stack.tokens.main as string;
    api = httpScenarioClient(stack.url, stack.apiKey);
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
    direct?.disconnect();
    await redis?.stop();
  });

  /** One measured request: the endpoint's counts, Redis's, and what the function printed. */
  const measure = (step: (typeof API_SCENARIO)[number], n: number) =>
    runStep(api, step, n, async (request) => {
      let output: CapturedOutput | undefined;
      const seen = await costOf(stack.upstash, token, direct, async () => {
        output = captureOutput();
        try {
          await request();
        } finally {
          output.restore();
        }
      });
      const text = output?.text() ?? '';
      const perFunction = { service: 'api', database: 'main' };
      const line = text
        .split('\n')
        .filter((l) => l.includes('"message":"request"'))
        .map((l) => JSON.parse(l) as { commands?: number; billedCommands?: number; roundTrips?: number });
      return {
        seen: { commands: seen.commands, roundTrips: seen.roundTrips, billed: seen.billed },
        published: {
          commands: emittedSum(text, 'UpstashCommands', perFunction),
          roundTrips: emittedSum(text, 'UpstashRoundTrips', perFunction),
          billed: emittedSum(text, 'UpstashBilledCommands', perFunction),
        },
        billedPerDatabase: emittedSum(text, 'UpstashBilledCommands', { database: 'main' }),
        logged: line.map((l) => ({
          commands: l.commands,
          roundTrips: l.roundTrips,
          billed: l.billedCommands,
        })),
      };
    });

  it.each(API_SCENARIO.map((step, i) => [stepName(step), i] as const))(
    '%s: commands, round trips and billed commands, first call and warm',
    async (_name, index) => {
      const step = API_SCENARIO[index] as (typeof API_SCENARIO)[number];
      // The first call of a route may find its scripts unloaded (EVALSHA, NOSCRIPT, EVAL): still exact.
      for (const n of [0, 1]) {
        const { seen, published, billedPerDatabase, logged } = await measure(step, n);
        // The OpenAPI document is built in memory: its request is the one that costs nothing.
        if (step.route === 'GET /openapi.json') expect(seen.commands).toBe(0);
        else
          expect(seen.commands, `${stepName(step)} #${n}: the request reached the database`).toBeGreaterThan(
            0,
          );
        expect(published, `${stepName(step)} #${n}`).toEqual(seen);
        expect(billedPerDatabase).toBe(seen.billed);
        expect(logged).toEqual([seen]);
      }
    },
  );
});
