import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The app entry (`bin/app.ts`, what `cdk synth` runs) on a configuration with mistakes: every
 * problem on a line of its own with the setting's full path, in a fixed order, exit 1, and
 * nothing else on stderr (no stack trace). The exact text, as a user reads it.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const ONE_DATABASE = {
  databases: { main: { secretName: 'upstash/main' } },
  features: { cache: 'main', sessions: 'main', rateLimit: 'main', locks: 'main', queue: 'main' },
};

/** Runs the app entry with `upstash` as its context, as the CDK CLI passes context. */
function synth(upstash: unknown) {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ upstash }) },
  });
  return { code: run.status, out: run.stdout, err: run.stderr };
}

describe('configuration errors from the app entry', () => {
  it('misspelled settings and bad values: one line each, full path, no stack trace', () => {
    expect(
      synth({
        ...ONE_DATABASE,
        cahce: {},
        sessions: { idelTtl: '1 h' },
        rateLimits: { api: { limit: 0 } },
      }),
    ).toEqual({
      code: 1,
      out: '',
      err: [
        'invalid configuration: upstash.rateLimits.api.algorithm is required',
        'invalid configuration: upstash.rateLimits.api.limit must be a positive whole number, got 0',
        'invalid configuration: upstash.rateLimits.api.window is required',
        'invalid configuration: upstash.sessions.idelTtl is not a known setting (known: idleTtl, absoluteTtl, maxPerUser)',
        'invalid configuration: upstash.cahce is not a known setting (known: databases, features, rateLimits, sessions, cache, idempotency, schedules, auth, api, keyPrefix, metricsNamespace, logRetentionDays, alarmEmail, budget)',
        '',
      ].join('\n'),
    });
  }, 60_000);

  it('a duration without a unit, and a feature on a database the config does not have', () => {
    expect(synth({ ...ONE_DATABASE, cache: { defaultTtl: '5' } })).toEqual({
      code: 1,
      out: '',
      err: 'invalid configuration: upstash.cache.defaultTtl must be a duration like "60 s", "5 m" or "1 h" (units ms, s, m, h, d), got "5"\n',
    });
    expect(synth({ ...ONE_DATABASE, features: { ...ONE_DATABASE.features, queue: 'jobs' } })).toEqual({
      code: 1,
      out: '',
      err: 'invalid configuration: upstash.features.queue refers to unknown database "jobs" (known: main)\n',
    });
  }, 60_000);
});
