import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it, vi } from 'vitest';
import { defineStacks } from '../../lib/app-stacks';
import { ConfigError, configFromContext, parseConfig } from '../../lib/config';
import {
  actionsOf,
  logicalId,
  newApp,
  scratchDir,
  statementsOfRole,
  synthesize,
  TWO_DATABASES,
} from './helpers';

// Each test synthesizes whole apps: seconds of CPU on a quiet machine, many times that with
// the cores busy (the default 30 s was nearly used up on a loaded 2-core machine).
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const migrating = (mode: string, extra: Record<string, unknown> = {}) => ({
  ...TWO_DATABASES,
  databases: {
    cache: { secretName: 'upstash/cache' },
    state: { secretName: 'upstash/state', migration: { mode, ...extra } },
  },
});

describe('migration settings', () => {
  it('validates the migration of a database and applies its defaults', () => {
    const config = parseConfig(migrating('rollout', { rolloutPercent: 25 }));
    expect(config.databases.state?.migration).toEqual({
      mode: 'rollout',
      sourceSecretName: 'upstash/state/source',
      rolloutPercent: 25,
      rolloutBy: 'key',
    });
    expect(() => parseConfig(migrating('sideways'))).toThrow(ConfigError);
    expect(() => parseConfig(migrating('rollout', { rolloutPercent: 120 }))).toThrow(
      /databases\.state\.migration\.rolloutPercent must be a number from 0 to 100, got 120/,
    );
    expect(() => parseConfig(migrating('shadow', { sourceSecretName: 'upstash/cache' }))).toThrow(
      /already used by databases\.cache/,
    );
  });

  it('creates an empty source secret and lets only the functions of that database read it while they use it', () => {
    const s = synthesize(migrating('shadow'));
    const source = s.secrets.databases.state?.migrationSource;
    expect(source).toBeDefined();
    s.templates.secrets.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'upstash/state/source',
    });
    const sourceId = logicalId(s.secrets, source as never);
    const readsSource = (fn: { role: never }, template: typeof s.templates.api, stack: typeof s.api) =>
      statementsOfRole(template, logicalId(stack, fn.role))
        .filter((st) => actionsOf(st).includes('secretsmanager:GetSecretValue'))
        .some((st) => JSON.stringify(st.Resource).includes(sourceId));
    expect(readsSource(s.api.apiFunction as never, s.templates.api, s.api)).toBe(true);
    // The authorizer uses no database: it never gets the old Redis's secret.
    if (s.api.authorizerFunction) {
      expect(readsSource(s.api.authorizerFunction as never, s.templates.api, s.api)).toBe(false);
    }
    const env = JSON.stringify(s.templates.api.toJSON());
    expect(env).toContain('\\"migration\\":{\\"mode\\":\\"shadow\\",\\"sourceSecretArn\\"');
  });

  it('adds the migration widgets to the dashboard only while a database migrates', () => {
    const body = (t: ReturnType<typeof synthesize>) => JSON.stringify(t.templates.monitoring.toJSON());
    const moving = body(synthesize(migrating('rollout', { rolloutPercent: 5 })));
    expect(moving).toContain('Migration: shadow mismatches');
    expect(moving).toContain('MigrationReadsUpstash');
    expect(body(synthesize(TWO_DATABASES))).not.toContain('Migration:');
  });

  it('stops granting the source secret once cut over', () => {
    const s = synthesize(migrating('upstash'));
    const sourceId = logicalId(s.secrets, s.secrets.databases.state?.migrationSource as never);
    expect(JSON.stringify(s.templates.api.toJSON())).not.toContain(sourceId);
    expect(JSON.stringify(s.templates.jobs.toJSON())).not.toContain(sourceId);
  });

  it('leaves no cdk-nag finding unacknowledged', () => {
    const app = newApp(migrating('rollout', { rolloutPercent: 10 }), scratchDir('nag-'));
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    defineStacks(app, configFromContext(app.node));
    expect(() => app.synth()).not.toThrow();
  });
});
