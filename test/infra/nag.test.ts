import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type App, Validations } from 'aws-cdk-lib';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it, vi } from 'vitest';
import { defineStacks } from '../../lib/app-stacks';
import { configFromContext } from '../../lib/config';
import { JWT_WITH_ALARM_EMAIL, newApp, SINGLE_DATABASE, scratchDir, TWO_DATABASES } from './helpers';

// Each test synthesizes whole apps: seconds of CPU on a quiet machine, many times that with
// the cores busy (the default 30 s was nearly used up on a loaded 2-core machine).
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

interface Violation {
  readonly ruleName: string;
  readonly violatingConstructs: { readonly constructPath: string }[];
}

interface ValidationReport {
  readonly pluginReports: {
    readonly pluginName: string;
    readonly violations: Violation[];
    readonly suppressedViolations?: Violation[];
  }[];
}

/**
 * Synthesizes the app with the cdk-nag AwsSolutions pack, as bin/app.ts does, and returns the
 * unacknowledged findings (`rule @ construct path`) from validation-report.json, plus the app.
 * cdk-nag 3 reports there, not through Annotations, and `app.synth()` throws when it finds any.
 * Memoized per configuration: one synthesis serves every test of that configuration.
 */
interface NagResult {
  /** Unacknowledged findings, `rule @ path`. */
  readonly findings: string[];
  /** Acknowledged findings, `rule @ path`. */
  readonly suppressed: string[];
  readonly app: App;
}

const results = new Map<unknown, NagResult>();
function nag(config: unknown): NagResult {
  const cached = results.get(config);
  if (cached) return cached;
  const outdir = scratchDir('nag-');
  const app = newApp(config, outdir);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  defineStacks(app, configFromContext(app.node));
  let error: unknown;
  try {
    app.synth();
  } catch (e) {
    error = e;
  }
  const file = join(outdir, 'validation-report.json');
  const report: ValidationReport = existsSync(file)
    ? JSON.parse(readFileSync(file, 'utf8'))
    : { pluginReports: [] };
  const list = (violations: Violation[]): string[] =>
    violations.flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} @ ${c.constructPath}`));
  const findings = report.pluginReports.flatMap((plugin) => list(plugin.violations));
  const suppressed = report.pluginReports.flatMap((plugin) => list(plugin.suppressedViolations ?? []));
  if (error && findings.length === 0) throw error;
  const result = { findings, suppressed, app };
  results.set(config, result);
  return result;
}

/** Every acknowledgment recorded in the tree: `{ path, id, reason }`. */
function acknowledgments(app: App): { path: string; id: string; reason: unknown }[] {
  const found: { path: string; id: string; reason: unknown }[] = [];
  const visit = (node: IConstruct): void => {
    for (const entry of node.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, unknown>)) {
        found.push({ path: node.node.path, id, reason });
      }
    }
    for (const child of node.node.children) visit(child);
  };
  visit(app);
  return found;
}

describe('cdk-nag AwsSolutions', () => {
  it.each([
    ['the two-database app', TWO_DATABASES],
    ['the single-database app', SINGLE_DATABASE],
    ['JWT auth with alarm e-mail', JWT_WITH_ALARM_EMAIL],
  ])('leaves no finding unacknowledged in %s, each acknowledgment with a reason', (_name, config) => {
    const { findings, app } = nag(config);

    expect(findings).toEqual([]);
    const acks = acknowledgments(app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(
        typeof ack.reason === 'string' && ack.reason.trim().length >= 20,
        `${ack.id} @ ${ack.path}`,
      ).toBe(true);
    }
  });

  it('acknowledges exactly the expected rules, each one used by a finding', () => {
    const { app, suppressed } = nag(TWO_DATABASES);

    expect(
      acknowledgments(app)
        .map((a) => `${a.id} @ ${a.path}`)
        .sort(),
    ).toEqual([
      'AwsSolutions::AwsSolutions-APIG4 @ UpstashStateApi/HttpApi/DefaultRoute',
      'AwsSolutions::AwsSolutions-APIG4 @ UpstashStateApi/HttpApi/GET--health',
      'AwsSolutions::AwsSolutions-APIG4 @ UpstashStateApi/HttpApi/GET--openapi.json',
      'AwsSolutions::AwsSolutions-SMG4 @ UpstashStateSecrets/ApiKeys',
      'AwsSolutions::AwsSolutions-SMG4 @ UpstashStateSecrets/Database-cache',
      'AwsSolutions::AwsSolutions-SMG4 @ UpstashStateSecrets/Database-state',
    ]);
    expect(suppressed.sort()).toEqual([
      'AwsSolutions-APIG4 @ UpstashStateApi/HttpApi/DefaultRoute/Resource',
      'AwsSolutions-APIG4 @ UpstashStateApi/HttpApi/GET--health/Resource',
      'AwsSolutions-APIG4 @ UpstashStateApi/HttpApi/GET--openapi.json/Resource',
      'AwsSolutions-SMG4 @ UpstashStateSecrets/ApiKeys/Resource/Resource',
      'AwsSolutions-SMG4 @ UpstashStateSecrets/Database-cache/Resource/Resource',
      'AwsSolutions-SMG4 @ UpstashStateSecrets/Database-state/Resource/Resource',
    ]);
  });

  it('still reports what is not acknowledged (the check is live)', () => {
    const outdir = scratchDir('nag-');
    const app = newApp(TWO_DATABASES, outdir);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const { secrets } = defineStacks(app, configFromContext(app.node));
    // A secret nobody acknowledged must surface as SMG4 (an UpstashDatabaseSecret acknowledges
    // its own, with the reason: nothing in AWS can rotate an Upstash token).
    new Secret(secrets, 'Unacknowledged');

    expect(() => app.synth()).toThrow(/AwsSolutions-SMG4/);
    const report: ValidationReport = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));
    expect(report.pluginReports[0]?.violations.map((v) => v.ruleName)).toEqual(['AwsSolutions-SMG4']);
  });
});
