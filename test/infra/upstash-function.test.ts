import { existsSync } from 'node:fs';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { LAZY_SDK_LABEL, OPENAPI_LABEL, TCP_LABEL } from '../../lambda/shared/bundle-labels';
import { UpstashDatabaseSecret } from '../../lib/constructs/upstash-database-secret';
import {
  ALIASED_BUILTINS,
  INJECTED_MODULES,
  SDK_LEFT_TO_RUNTIME,
  SOURCE_MAPS_OPTION,
  UpstashFunction,
  type UpstashFunctionProps,
} from '../../lib/constructs/upstash-function';

// A real entry (never bundled here: bundling-stacks is empty).
const ENTRY = new URL('../../lambda/handlers/usage-probe.ts', import.meta.url).pathname;

/** A stack with three secrets under names of a user's choosing, and one function over some. */
function build(props: Omit<UpstashFunctionProps, 'entry'> & { entry?: string } = {}) {
  const app = new App({
    context: { 'aws:cdk:bundling-stacks': [], 'aws:cdk:disable-stack-trace': true },
  });
  const stack = new Stack(app, 'Consumer');
  const pageCache = new UpstashDatabaseSecret(stack, 'PageCache', { databaseName: 'page-cache' });
  const limits = new UpstashDatabaseSecret(stack, 'Limits', { databaseName: 'limits' });
  const other = new UpstashDatabaseSecret(stack, 'Other', { databaseName: 'other' });
  const fn = new UpstashFunction(stack, 'Search', {
    entry: ENTRY,
    features: { cache: pageCache, rateLimit: limits },
    ...props,
  });
  return { app, stack, fn, pageCache, limits, other };
}

const environmentOf = (stack: Stack): Record<string, unknown> => {
  const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
  const [only] = Object.values(functions) as {
    Properties: { Environment: { Variables: Record<string, unknown> } };
  }[];
  return only?.Properties.Environment.Variables ?? {};
};

describe('UpstashFunction', () => {
  describe('features', () => {
    it('writes FEATURE_DATABASES and UPSTASH_DATABASES from the databases it is given, whatever their names', () => {
      const { stack } = build();
      const env = environmentOf(stack);

      expect(JSON.parse(env.FEATURE_DATABASES as string)).toEqual({
        cache: 'page-cache',
        rateLimit: 'limits',
      });
      const databases = JSON.stringify(stack.resolve(env.UPSTASH_DATABASES));
      expect(databases).toContain('{\\"page-cache\\":{\\"secretArn\\":\\"');
      expect(databases).toContain('\\"},\\"limits\\":{\\"secretArn\\":\\"');
      expect(databases).not.toContain('other');
      expect(env.KEY_PREFIX).toBe('app');
    });

    it('grants GetSecretValue on exactly the secrets of its features', () => {
      const { stack, pageCache, limits } = build();
      const template = Template.fromStack(stack);
      const secretsRead = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) =>
        (
          policy as {
            Properties: { PolicyDocument: { Statement: { Action: unknown; Resource: unknown }[] } };
          }
        ).Properties.PolicyDocument.Statement.filter((s) =>
          JSON.stringify(s.Action).includes('secretsmanager'),
        ).map((s) => ({ action: s.Action, resources: s.Resource })),
      );

      // One statement per database, nothing on the third secret of the stack.
      expect(secretsRead).toEqual([
        { action: 'secretsmanager:GetSecretValue', resources: stack.resolve(pageCache.secretArn) },
        { action: 'secretsmanager:GetSecretValue', resources: stack.resolve(limits.secretArn) },
      ]);
    });

    it('reads no secret and writes no database variable without features', () => {
      const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
      const stack = new Stack(app, 'Plain');
      new UpstashFunction(stack, 'Fn', { entry: ENTRY });
      const env = environmentOf(stack);

      expect(env.UPSTASH_DATABASES).toBeUndefined();
      expect(env.FEATURE_DATABASES).toBeUndefined();
      expect(JSON.stringify(Template.fromStack(stack).toJSON())).not.toContain('secretsmanager:');
    });
  });

  describe('Lambda options', () => {
    it('takes any NodejsFunction option over its defaults, bundling field by field', () => {
      const { stack } = build({
        memorySize: 1024,
        timeout: Duration.seconds(3),
        reservedConcurrentExecutions: 5,
        description: 'search',
        environment: { FEATURE_FLAG: 'on' },
        bundling: { minify: false },
      });
      const template = Template.fromStack(stack);

      template.hasResourceProperties('AWS::Lambda::Function', {
        MemorySize: 1024,
        Timeout: 3,
        ReservedConcurrentExecutions: 5,
        Description: 'search',
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Environment: {
          Variables: Match.objectLike({ FEATURE_FLAG: 'on' }),
        },
      });
      expect(UpstashFunction.bundling({ minify: false })).toMatchObject({ minify: false, sourceMap: true });
    });

    it('ships the source map, and has Node read it only when enableSourceMaps says so', () => {
      // Off by default: NODE_OPTIONS is the user's own, or absent.
      expect(environmentOf(build().stack).NODE_OPTIONS).toBeUndefined();
      expect(
        environmentOf(build({ environment: { NODE_OPTIONS: '--max-old-space-size=200' } }).stack)
          .NODE_OPTIONS,
      ).toBe('--max-old-space-size=200');
      // On: the option joins the user's.
      expect(environmentOf(build({ enableSourceMaps: true }).stack).NODE_OPTIONS).toBe(SOURCE_MAPS_OPTION);
      expect(
        environmentOf(
          build({ enableSourceMaps: true, environment: { NODE_OPTIONS: '--max-old-space-size=200' } }).stack,
        ).NODE_OPTIONS,
      ).toBe(`--max-old-space-size=200 ${SOURCE_MAPS_OPTION}`);
      // The map is built either way.
      expect(build().fn.bundling).toMatchObject({ sourceMap: true, sourcesContent: false });
    });

    it('bundles the SDK and the Upstash transport, and leaves TCP code out unless a database needs it', () => {
      const rest = build().fn.bundling;
      // The Secrets Manager client is bundled; only the SDK's lazily imported extras are not.
      expect(rest.externalModules).toEqual([...SDK_LEFT_TO_RUNTIME]);
      expect(rest.externalModules?.some((m) => m.startsWith('@aws-sdk/client-'))).toBe(false);
      expect(rest.inject).toEqual([...INJECTED_MODULES]);
      for (const file of INJECTED_MODULES) expect(existsSync(file), file).toBe(true);
      const aliases = { '--alias:node:process': ALIASED_BUILTINS['node:process'] };
      expect(rest.esbuildArgs).toEqual({
        '--drop-labels': `${LAZY_SDK_LABEL},${OPENAPI_LABEL},${TCP_LABEL}`,
        ...aliases,
      });
      for (const file of Object.values(ALIASED_BUILTINS)) expect(existsSync(file), file).toBe(true);

      // A database over TCP, or one migrating from an old Redis, keeps the TCP imports.
      const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
      const stack = new Stack(app, 'Tcp');
      const tcp = new UpstashDatabaseSecret(stack, 'SelfHosted', {
        databaseName: 'self-hosted',
        mode: 'tcp',
      });
      const withTcp = new UpstashFunction(stack, 'Copy', { entry: ENTRY, features: { cache: tcp } });
      expect(withTcp.bundling.esbuildArgs).toEqual({
        '--drop-labels': `${LAZY_SDK_LABEL},${OPENAPI_LABEL}`,
        ...aliases,
      });
      // Field by field: an override of one field keeps the others.
      const overridden = build({ bundling: { externalModules: ['@aws-sdk/*'] } }).fn.bundling;
      expect(overridden.externalModules).toEqual(['@aws-sdk/*']);
      expect(overridden.inject).toEqual([...INJECTED_MODULES]);
    });

    it('writes the runtime config it is given, defaults applied, as APP_CONFIG', () => {
      const { stack } = build({
        config: { rateLimits: { search: { algorithm: 'token-bucket', limit: 5, windowMs: 1_000 } } },
      });
      const config = JSON.parse(environmentOf(stack).APP_CONFIG as string);

      expect(config.rateLimits).toEqual({
        search: { algorithm: 'token-bucket', limit: 5, windowMs: 1_000, refillRate: 5, outage: 'local' },
      });
      expect(config.cache.fallback).toBe(true);
    });
  });

  describe('validation (node.addValidation)', () => {
    const synthErrors = (props: Parameters<typeof build>[0]): string => {
      const { app } = build(props);
      try {
        app.synth();
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    };

    it('names the full path of each bad runtime setting', () => {
      const message = synthErrors({
        config: { sessions: { idelTtlMs: 1_000 } as never, cache: { fallback: 'yes' as never } },
      });

      expect(message).toContain(
        'config.sessions.idelTtlMs is not a known setting (known: idleTtlMs, absoluteTtlMs, maxPerUser)',
      );
      expect(message).toContain('config.cache.fallback must be true or false, got "yes"');
    });

    it('refuses a variable the construct writes itself, and a bad key prefix', () => {
      const message = synthErrors({ environment: { FEATURE_DATABASES: '{}' }, keyPrefix: 'my:app' });

      expect(message).toContain('environment.FEATURE_DATABASES is written by the construct');
      expect(message).toContain('keyPrefix must be letters, digits, _ or -, at most 32, got "my:app"');
    });

    it('refuses a database name the runtime cannot carry', () => {
      const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
      const stack = new Stack(app, 'Names');
      new UpstashDatabaseSecret(stack, 'Bad', { databaseName: 'page cache' });

      expect(() => app.synth()).toThrow(
        /databaseName must be 1-32 letters, digits, _ or -.*got "page cache"/,
      );
    });

    it('refuses two databases of one name', () => {
      const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
      const stack = new Stack(app, 'Twice');
      const a = new UpstashDatabaseSecret(stack, 'A', { databaseName: 'state', secretName: 'a' });
      const b = new UpstashDatabaseSecret(stack, 'B', { databaseName: 'state', secretName: 'b' });
      new UpstashFunction(stack, 'Fn', { entry: ENTRY, features: { sessions: a, queue: b } });

      expect(() => app.synth()).toThrow(/two databases are named "state" \(Twice\/A and Twice\/B\)/);
    });
  });
});
