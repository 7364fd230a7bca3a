import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, type CfnElement, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { inject } from 'vitest';
import { type AppStacks, defineStacks } from '../../lib/app-stacks';
import { CONFIG_CONTEXT_KEY, configFromContext } from '../../lib/config';

/** The context of cdk.json: feature flags and the default (two-database) configuration. */
export const CDK_CONTEXT: Record<string, unknown> = JSON.parse(
  readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8'),
).context;

/** The default configuration of cdk.json. */
export const TWO_DATABASES = CDK_CONTEXT[CONFIG_CONTEXT_KEY] as Record<string, unknown>;

/** The simple case: one database, every feature on it, every other key defaulted. */
export const SINGLE_DATABASE = { databases: { main: { secretName: 'upstash/main' } } };

/** Rate limits on a database of their own, so the jobs (which never rate-limit) must not read it. */
export const THREE_DATABASES = {
  ...TWO_DATABASES,
  databases: {
    cache: { secretName: 'upstash/cache' },
    state: { secretName: 'upstash/state' },
    limits: { secretName: 'upstash/limits' },
  },
  features: { cache: 'cache', sessions: 'state', rateLimit: 'limits', locks: 'state', queue: 'state' },
};

/** JWT authorization and an alarm e-mail: no authorizer function, an encrypted alarm topic. */
export const JWT_WITH_ALARM_EMAIL = {
  ...TWO_DATABASES,
  auth: { type: 'jwt', issuer: 'https://id.example.com/', audience: 'upstash-state-api' },
  alarmEmail: 'ops@example.com',
};

/** A temporary directory inside the run's scratch root, which the global teardown removes. */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join(inject('scratchRoot'), prefix));
}

/** An app on the given configuration, without bundling (unit tests never run esbuild). */
export function newApp(config: unknown, outdir?: string): App {
  return new App({
    ...(outdir ? { outdir } : {}),
    // No stack traces in construct metadata: under vitest's source maps they cost seconds per synth.
    context: {
      ...CDK_CONTEXT,
      [CONFIG_CONTEXT_KEY]: config,
      'aws:cdk:bundling-stacks': [],
      'aws:cdk:disable-stack-trace': true,
    },
  });
}

/** The stacks of the app on the given configuration, and one template per stack. */
export interface Synthesized extends AppStacks {
  readonly app: App;
  readonly templates: { secrets: Template; api: Template; jobs: Template; monitoring: Template };
}

/** Defines and synthesizes the whole app on the given configuration. */
export function synthesize(config: unknown): Synthesized {
  const app = newApp(config, scratchDir('infra-'));
  const stacks = defineStacks(app, configFromContext(app.node));
  return {
    app,
    ...stacks,
    templates: {
      secrets: Template.fromStack(stacks.secrets),
      api: Template.fromStack(stacks.api),
      jobs: Template.fromStack(stacks.jobs),
      monitoring: Template.fromStack(stacks.monitoring),
    },
  };
}

/** The logical id of a construct's CloudFormation resource in its stack. */
export function logicalId(stack: Stack, construct: IConstruct): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

/** One statement of an IAM policy document. */
export interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
}

/** Every statement of every `AWS::IAM::Policy` attached to a role (by its logical id). */
export function statementsOfRole(template: Template, roleLogicalId: string): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(`"${roleLogicalId}"`))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

/** Every IAM statement of a template: role policies, inline policies, key and queue policies. */
export function allStatements(template: Template): Statement[] {
  const json = template.toJSON() as { Resources: Record<string, { Properties?: Record<string, unknown> }> };
  const found: Statement[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item);
    } else if (value && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      if (Array.isArray(record.Statement)) found.push(...(record.Statement as Statement[]));
      for (const child of Object.values(record)) walk(child);
    }
  };
  walk(json.Resources);
  return found;
}

/** The actions of a statement, as a list. */
export const actionsOf = (statement: Statement): string[] =>
  Array.isArray(statement.Action) ? statement.Action : [statement.Action];
