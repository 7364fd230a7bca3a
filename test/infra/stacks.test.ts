import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_ROUTE_KEY, ROUTES, routeKey } from '../../lambda/shared/routes';
import type { UpstashFunction } from '../../lib/constructs/upstash-function';
import { widgetMetrics, widgetTitles } from '../helpers/metrics-contract';
import {
  actionsOf,
  allStatements,
  JWT_WITH_ALARM_EMAIL,
  logicalId,
  SINGLE_DATABASE,
  type Synthesized,
  statementsOfRole,
  synthesize,
  THREE_DATABASES,
  TWO_DATABASES,
} from './helpers';

// Each test synthesizes whole apps: seconds of CPU on a quiet machine, many times that with
// the cores busy (the default 30 s was nearly used up on a loaded 2-core machine).
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

/**
 * The databases whose secrets a function's role may read, found by the secret each
 * `GetSecretValue` statement names, and a check that it is the only Secrets Manager access.
 */
function grantedSecrets(s: Synthesized, fn: UpstashFunction): string[] {
  const stack = fn.node.scope === s.api ? s.api : s.jobs;
  const template = fn.node.scope === s.api ? s.templates.api : s.templates.jobs;
  const statements = statementsOfRole(template, logicalId(stack, fn.role));
  const secretStatements = statements.filter((st) =>
    actionsOf(st).some((a) => a.startsWith('secretsmanager:')),
  );
  for (const st of secretStatements) expect(actionsOf(st)).toEqual(['secretsmanager:GetSecretValue']);
  const candidates: [string, string][] = Object.entries(s.secrets.databases).map(([name, db]) => [
    name,
    logicalId(s.secrets, db.secret),
  ]);
  if (s.secrets.apiKeys) candidates.push(['api-keys', logicalId(s.secrets, s.secrets.apiKeys.secret)]);
  return secretStatements
    .map((st) => {
      const resource = JSON.stringify(st.Resource);
      const matches = candidates.filter(([, id]) => resource.includes(id));
      expect(matches, `one secret per statement, got ${resource}`).toHaveLength(1);
      return matches[0]?.[0] as string;
    })
    .sort();
}

/** A resource's properties as the template holds them; tests assert on them with toMatchObject. */
// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON, read field by field in assertions
type TemplateJson = Record<string, any>;

/** Every string leaf of a JSON value, at any depth. */
function stringsOf(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsOf);
  if (value && typeof value === 'object')
    return Object.entries(value).flatMap(([k, v]) => [k, ...stringsOf(v)]);
  return [];
}

function environmentOf(s: Synthesized, fn: UpstashFunction): Record<string, unknown> {
  const stack = fn.node.scope === s.api ? s.api : s.jobs;
  const template = fn.node.scope === s.api ? s.templates.api : s.templates.jobs;
  const resource = template.findResources('AWS::Lambda::Function')[logicalId(stack, fn.function)];
  return resource?.Properties.Environment.Variables;
}

describe('the two-database app (cdk.json)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthesize(TWO_DATABASES);
  });

  describe('secrets stack', () => {
    it('defines one secret per database and one for the API keys, all retained', () => {
      s.templates.secrets.resourceCountIs('AWS::SecretsManager::Secret', 3);
      for (const name of ['upstash/cache', 'upstash/state', 'upstash/api-keys']) {
        s.templates.secrets.hasResource('AWS::SecretsManager::Secret', {
          Properties: { Name: name },
          DeletionPolicy: 'Retain',
          UpdateReplacePolicy: 'Retain',
        });
      }
    });

    it('puts no value in any secret, not even a generated one', () => {
      s.templates.secrets.resourcePropertiesCountIs(
        'AWS::SecretsManager::Secret',
        { SecretString: Match.absent(), GenerateSecretString: Match.absent() },
        3,
      );
    });

    it('outputs the ARN of every secret', () => {
      const outputs = s.templates.secrets.findOutputs('*');
      for (const id of ['DatabaseSecretArncache', 'DatabaseSecretArnstate', 'ApiKeysSecretArn']) {
        expect(outputs[id]?.Value).toEqual({ Ref: expect.any(String) });
      }
    });
  });

  describe('functions', () => {
    const all = (): UpstashFunction[] => [
      s.api.apiFunction,
      s.api.authorizerFunction as UpstashFunction,
      s.jobs.queueWorker,
      s.jobs.maintenance,
      s.jobs.usageProbe,
    ];

    it('run Node 24 on ARM64 with explicit memory, timeout and JSON logs', () => {
      for (const [template, count] of [
        [s.templates.api, 2],
        [s.templates.jobs, 3],
      ] as const) {
        template.resourcePropertiesCountIs(
          'AWS::Lambda::Function',
          {
            Runtime: 'nodejs24.x',
            Architectures: ['arm64'],
            MemorySize: Match.anyValue(),
            Timeout: Match.anyValue(),
            LoggingConfig: Match.objectLike({ LogFormat: 'JSON', LogGroup: { Ref: Match.anyValue() } }),
            Environment: { Variables: Match.not(Match.objectLike({ NODE_OPTIONS: Match.anyValue() })) },
          },
          count,
        );
      }
    });

    it('log into their own log groups with the configured retention', () => {
      s.templates.api.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 30 }, 3);
      s.templates.jobs.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 30 }, 3);
    });

    it('grant the api function the secrets of every database', () => {
      expect(grantedSecrets(s, s.api.apiFunction)).toEqual(['cache', 'state']);
    });

    it('grant the authorizer the API-key secret only', () => {
      expect(grantedSecrets(s, s.api.authorizerFunction as UpstashFunction)).toEqual(['api-keys']);
    });

    it('grant the jobs the secrets of the databases they have a client of', () => {
      // The worker's built-in jobs reach the cache and the sessions; maintenance the queue and locks.
      expect(grantedSecrets(s, s.jobs.queueWorker)).toEqual(['cache', 'state']);
      expect(grantedSecrets(s, s.jobs.maintenance)).toEqual(['state']);
      // The usage probe reads every database's size.
      expect(grantedSecrets(s, s.jobs.usageProbe)).toEqual(['cache', 'state']);
    });

    it('tell each function its databases, features, key prefix and config', () => {
      for (const fn of [s.api.apiFunction, s.jobs.queueWorker, s.jobs.usageProbe]) {
        const env = environmentOf(s, fn);
        const databases = JSON.stringify(env.UPSTASH_DATABASES);
        expect(databases).toContain('{\\"cache\\":{\\"secretArn\\":\\"');
        expect(databases).toContain('\\"},\\"state\\":{\\"secretArn\\":\\"');
        expect(env.KEY_PREFIX).toBe('app');
        expect(JSON.parse(env.APP_CONFIG as string).cache.defaultTtlMs).toBe(300_000);
        expect(env.POWERTOOLS_METRICS_NAMESPACE).toBe('UpstashState');
      }
      expect(JSON.parse(environmentOf(s, s.api.apiFunction).FEATURE_DATABASES as string)).toEqual({
        cache: 'cache',
        sessions: 'state',
        rateLimit: 'state',
        locks: 'state',
        queue: 'state',
      });
      expect(JSON.parse(environmentOf(s, s.jobs.queueWorker).FEATURE_DATABASES as string)).toEqual({
        queue: 'state',
        cache: 'cache',
        sessions: 'state',
        locks: 'state',
      });
    });

    it('give the authorizer the API-key secret and no database', () => {
      const env = environmentOf(s, s.api.authorizerFunction as UpstashFunction);

      expect(env.API_KEYS_SECRET_ARN).toEqual({ 'Fn::GetStackOutput': expect.anything() });
      expect(env.UPSTASH_DATABASES).toBeUndefined();
      expect(env.FEATURE_DATABASES).toBeUndefined();
      expect(environmentOf(s, s.api.apiFunction).API_KEYS_SECRET_ARN).toBeUndefined();
    });

    it('write only to their own log group', () => {
      for (const fn of all()) {
        const stack = fn.node.scope === s.api ? s.api : s.jobs;
        const template = fn.node.scope === s.api ? s.templates.api : s.templates.jobs;
        const logs = statementsOfRole(template, logicalId(stack, fn.role)).filter((st) =>
          actionsOf(st).some((a) => a.startsWith('logs:')),
        );
        expect(logs).toEqual([
          {
            Effect: 'Allow',
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Resource: { 'Fn::GetAtt': [logicalId(stack, fn.logGroup), 'Arn'] },
          },
        ]);
      }
    });
  });

  describe('IAM', () => {
    it('has no statement on Resource "*"', () => {
      for (const template of Object.values(s.templates)) {
        const wildcards = allStatements(template).filter((st) => JSON.stringify(st.Resource) === '"*"');
        expect(wildcards).toEqual([]);
      }
    });

    it('attaches no AWS-managed policy', () => {
      for (const template of Object.values(s.templates)) {
        template.resourcePropertiesCountIs('AWS::IAM::Role', { ManagedPolicyArns: Match.anyValue() }, 0);
      }
    });
  });

  describe('no credential anywhere', () => {
    it('has no Upstash URL, token or credential variable in any template, env or output', () => {
      for (const template of Object.values(s.templates)) {
        // Every string of the template, unescaped: env JSON and descriptions included.
        for (const text of stringsOf(template.toJSON())) {
          expect(text).not.toMatch(/https:\/\/[a-z0-9-]+\.upstash\.io/i);
          expect(text).not.toMatch(/rediss?:\/\/\S+@/);
          expect(text).not.toMatch(/UPSTASH_REDIS_REST_(URL|TOKEN)|REST_TOKEN/);
          // The only "token" value allowed is the "..." of the secret descriptions.
          expect(text).not.toMatch(/"(token|password)"\s*:\s*"(?!\.\.\.")/i);
        }
        expect(JSON.stringify(template.toJSON())).not.toMatch(/SecretString|SecretStringTemplate/);
      }
    });

    it('sets no environment variable whose name says token, password or key value', () => {
      for (const template of [s.templates.api, s.templates.jobs]) {
        for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
          for (const name of Object.keys(fn.Properties.Environment.Variables)) {
            expect(name).not.toMatch(/TOKEN|PASSWORD|URL/);
          }
        }
      }
    });
  });

  describe('api stack', () => {
    it('defines one route per entry of ROUTES, with the same route keys, plus $default', () => {
      const routes = Object.values(s.templates.api.findResources('AWS::ApiGatewayV2::Route'));

      expect(routes).toHaveLength(ROUTES.length + 1);
      expect(routes.map((r) => r.Properties.RouteKey).sort()).toEqual(
        [...ROUTES.map(routeKey), DEFAULT_ROUTE_KEY].sort(),
      );
    });

    it('puts the authorizer on every route but GET /health and GET /openapi.json', () => {
      const [authorizerId] = Object.keys(s.templates.api.findResources('AWS::ApiGatewayV2::Authorizer'));
      const routes = Object.values(s.templates.api.findResources('AWS::ApiGatewayV2::Route'));
      for (const route of routes) {
        const isPublic =
          route.Properties.RouteKey === DEFAULT_ROUTE_KEY ||
          ROUTES.find((r) => routeKey(r) === route.Properties.RouteKey)?.auth === false;
        if (isPublic) {
          expect(route.Properties).toMatchObject({ AuthorizationType: 'NONE' });
          expect(route.Properties.AuthorizerId).toBeUndefined();
        } else {
          expect(route.Properties).toMatchObject({
            AuthorizationType: 'CUSTOM',
            AuthorizerId: { Ref: authorizerId },
          });
        }
      }
      expect(
        routes.filter((r) => r.Properties.AuthorizationType === 'NONE').map((r) => r.Properties.RouteKey),
      ).toEqual(expect.arrayContaining(['GET /health', 'GET /openapi.json', DEFAULT_ROUTE_KEY]));
      expect(routes.filter((r) => r.Properties.AuthorizationType === 'NONE')).toHaveLength(3);
    });

    it('authorizes with the x-api-key header, simple responses and a cached result', () => {
      s.templates.api.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
        AuthorizerType: 'REQUEST',
        AuthorizerPayloadFormatVersion: '2.0',
        EnableSimpleResponses: true,
        IdentitySource: ['$request.header.x-api-key'],
        AuthorizerResultTtlInSeconds: 240,
      });
    });

    it('bounds revocation: the gateway cache TTL plus the key-set age add up to auth.revocationDelay (5 min)', () => {
      const authorizers = Object.values(s.templates.api.findResources('AWS::ApiGatewayV2::Authorizer'));
      expect(authorizers).toHaveLength(1);
      const gatewayMs = Number(authorizers[0]?.Properties.AuthorizerResultTtlInSeconds) * 1_000;
      const authorizer = s.api.authorizerFunction as UpstashFunction;
      const keySetMs = Number(environmentOf(s, authorizer).API_KEYS_MAX_AGE_MS);
      expect(Number.isSafeInteger(keySetMs) && keySetMs > 0).toBe(true);
      expect(gatewayMs + keySetMs).toBe(300_000);
      // And the same figure the functions are told.
      expect(JSON.parse(environmentOf(s, authorizer).APP_CONFIG as string).auth).toEqual({
        type: 'api-key',
        revocationDelayMs: 300_000,
        cacheTtlMs: gatewayMs,
        keySetMaxAgeMs: keySetMs,
      });
    });

    it('serves from an explicit auto-deployed stage with throttling and JSON access logs', () => {
      s.templates.api.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
      s.templates.api.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
      const stage = Object.values(s.templates.api.findResources('AWS::ApiGatewayV2::Stage'))[0]?.Properties;
      expect(stage).toMatchObject({
        StageName: '$default',
        AutoDeploy: true,
        DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
      });
      const format = JSON.parse(stage.AccessLogSettings.Format);
      expect(format).toMatchObject({
        requestId: '$context.requestId',
        status: '$context.status',
        routeKey: '$context.routeKey',
      });
    });

    it('outputs the API URL', () => {
      expect(s.templates.api.findOutputs('ApiUrl').ApiUrl?.Value).toBeDefined();
    });
  });

  describe('jobs stack', () => {
    it('runs each job on its schedule with its own role, a retry policy and the dead-letter queue', () => {
      const dlq = logicalId(s.jobs, s.jobs.deadLetterQueue);
      for (const [fn, expression] of [
        [s.jobs.queueWorker, 'rate(1 minute)'],
        [s.jobs.maintenance, 'rate(15 minutes)'],
        [s.jobs.usageProbe, 'rate(15 minutes)'],
      ] as const) {
        s.templates.jobs.hasResourceProperties('AWS::Scheduler::Schedule', {
          ScheduleExpression: expression,
          State: 'ENABLED',
          Target: {
            Arn: { 'Fn::GetAtt': [logicalId(s.jobs, fn.function), 'Arn'] },
            RoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('ScheduleRole'), 'Arn'] },
            RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 300 },
            DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
            Input: Match.serializedJson(
              Match.objectLike({ source: 'scheduler', executionId: '<aws.scheduler.execution-id>' }),
            ),
          },
        });
      }
    });

    it('lets the scheduler role invoke exactly its function and send to the dead-letter queue', () => {
      const roles = s.templates.jobs.findResources('AWS::IAM::Role', {
        Properties: {
          AssumeRolePolicyDocument: {
            Statement: [Match.objectLike({ Principal: { Service: 'scheduler.amazonaws.com' } })],
          },
        },
      });
      expect(Object.keys(roles)).toHaveLength(3);
      for (const roleId of Object.keys(roles)) {
        const statements = statementsOfRole(s.templates.jobs, roleId);
        expect(statements.map((st) => actionsOf(st).join())).toEqual([
          'lambda:InvokeFunction',
          'sqs:SendMessage',
        ]);
        expect(JSON.stringify(statements[0]?.Resource)).not.toContain(':*');
      }
    });

    it('keeps the dead-letter queue encrypted and TLS-only, and sends failed async runs there', () => {
      s.templates.jobs.hasResourceProperties('AWS::SQS::Queue', {
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 1_209_600,
      });
      s.templates.jobs.hasResourceProperties('AWS::SQS::QueuePolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
      s.templates.jobs.resourcePropertiesCountIs(
        'AWS::Lambda::EventInvokeConfig',
        { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 300 },
        3,
      );
      s.templates.jobs.resourcePropertiesCountIs(
        'AWS::Lambda::Function',
        {
          DeadLetterConfig: {
            TargetArn: { 'Fn::GetAtt': [logicalId(s.jobs, s.jobs.deadLetterQueue), 'Arn'] },
          },
        },
        3,
      );
    });
  });

  describe('monitoring stack', () => {
    const alarmsById = () =>
      Object.fromEntries(
        Object.entries(s.templates.monitoring.findResources('AWS::CloudWatch::Alarm')).map(([id, a]) => [
          id,
          a.Properties as Record<string, unknown>,
        ]),
      );
    const alarmWith = (prefix: string) =>
      Object.entries(alarmsById()).find(([id]) => id.startsWith(prefix))?.[1] as TemplateJson;

    it('alarms on errors and throttles of every function, API 5xx and its rate, and both kinds of dead letter', () => {
      const alarms = Object.values(alarmsById());
      const byMetric = (metric: string) => alarms.filter((a) => a.MetricName === metric);

      // 5 functions × (errors, throttles), 5xx, 5xx rate, the scheduler's DLQ, dead-letter jobs of
      // the default queue, data size of the 2 databases, and the budget of cdk.json.
      expect(alarms).toHaveLength(17);
      expect(byMetric('Errors')).toHaveLength(5);
      expect(byMetric('Throttles')).toHaveLength(5);
      expect(byMetric('5xx')[0]).toMatchObject({ Namespace: 'AWS/ApiGateway', Threshold: 1 });
      expect(byMetric('ApproximateNumberOfMessagesVisible')[0]).toMatchObject({ Namespace: 'AWS/SQS' });
      expect(alarmWith('DeadLetterJobsdefault')).toMatchObject({
        Namespace: 'UpstashState',
        MetricName: 'DeadLetters',
        // Exactly the dimensions the maintenance function publishes it under (the contract test
        // in test/integration/contract checks every alarm and widget against the handlers' EMF).
        Dimensions: [
          { Name: 'queue', Value: 'default' },
          { Name: 'service', Value: 'maintenance' },
        ],
        Statistic: 'Maximum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
      const rate = alarmWith('ApiErrorRate');
      expect(rate).toMatchObject({ Threshold: 5, ComparisonOperator: 'GreaterThanThreshold' });
      expect(JSON.stringify(rate.Metrics)).toContain('IF(requests >= 20, 100 * errors / requests, 0)');
    });

    it("alarms on each database's data size above 85 % of its plan, as the usage probe reads it", () => {
      for (const database of ['cache', 'state']) {
        const memory = alarmWith(`Memory${database}`);
        expect(memory).toMatchObject({
          Threshold: Math.floor(100 * 1024 ** 3 * 0.85),
          ComparisonOperator: 'GreaterThanThreshold',
          TreatMissingData: 'missing',
        });
        expect(memory).toMatchObject({
          MetricName: 'UpstashDataBytes',
          Dimensions: [
            { Name: 'database', Value: database },
            { Name: 'service', Value: 'usage-probe' },
          ],
          Statistic: 'Maximum',
          Period: 3600,
        });
      }
    });

    it("alarms when the estimated monthly cost passes the budget, at each database's price", () => {
      const budget = alarmWith('Budget');
      expect(budget).toMatchObject({ Threshold: 50, ComparisonOperator: 'GreaterThanThreshold' });
      const queries = budget.Metrics as TemplateJson[];
      expect(queries.find((q) => q.ReturnData !== false)?.Expression).toBe(
        'FILL(b0, 0) * 30 * 0.2 / 100000 + FILL(b1, 0) * 30 * 0.2 / 100000 + 0',
      );
      for (const [id, database] of [
        ['b0', 'cache'],
        ['b1', 'state'],
      ]) {
        expect(queries.find((q) => q.Id === id)?.MetricStat).toMatchObject({
          Metric: {
            MetricName: 'UpstashBilledCommands',
            Dimensions: [{ Name: 'database', Value: database }],
          },
          Period: 86_400,
          Stat: 'Sum',
        });
      }
    });

    it('tells in every alarm description what happened and what to do', () => {
      for (const [id, alarm] of Object.entries(alarmsById())) {
        const text = String(alarm.AlarmDescription);
        expect(text.length, id).toBeGreaterThan(80);
        expect(text, id).toMatch(/\b(read|check|raise|fix|find|shorten|move)\b/i);
      }
    });

    it('has a dashboard with usage against the plan, cost, hit rate, latency, errors, 429s and the queues', () => {
      const titles = widgetTitles(s.templates.monitoring);
      for (const title of [
        'Billed commands per day: cache (plan "pay-as-you-go", no daily limit)',
        'Billed commands per day: state (plan "pay-as-you-go", no daily limit)',
        'Upstash traffic: cache (per second)',
        'Bandwidth per day: cache (plan 200 GB/month)',
        'Data size: state (plan 100 GB)',
        "Estimated monthly cost ($, at the last day's rate; prices of 2026-11-09)",
        'Cache hit rate (%)',
        'Upstash latency, api function (ms)',
        'Errors and rate limits',
        'Job queue "default"',
        'Dead letters, queue "default"',
      ]) {
        expect(titles).toContain(title);
      }
      const metrics = widgetMetrics(s.templates.monitoring);
      const read = (title: string) =>
        metrics.filter((m) => m.reader === `widget "${title}"`).map((m) => m.name);
      expect(read('Upstash latency, api function (ms)')).toEqual(Array(6).fill('UpstashLatency'));
      expect(read('Errors and rate limits')).toEqual(['5xx', 'Count', '4xx', 'RateLimited']);
      expect(read('Cache hit rate (%)')).toEqual(['CacheHit', 'CacheMiss', 'FallbackServed']);
    });

    it("draws a plan's daily limit and alarms at 80 % of it, where the plan has one", () => {
      const free = synthesize({
        ...TWO_DATABASES,
        databases: {
          cache: { plan: 'free' },
          state: { plan: { preset: 'pay-as-you-go', dailyCommands: 1000 } },
        },
      });
      const alarms = free.templates.monitoring.findResources('AWS::CloudWatch::Alarm');
      const daily = (db: string) =>
        Object.entries(alarms).find(([id]) => id.startsWith(`DailyCommands${db}`))?.[1]?.Properties;
      expect(daily('cache')).toMatchObject({
        Threshold: 13_332, // 80 % of the free plan's 500,000 / 30 = 16,666 per day
        ComparisonOperator: 'GreaterThanThreshold',
      });
      expect(daily('state')).toMatchObject({ Threshold: 800 });
      expect(daily('cache')).toMatchObject({
        MetricName: 'UpstashBilledCommands',
        Dimensions: [{ Name: 'database', Value: 'cache' }],
        Period: 86_400,
        Statistic: 'Sum',
      });
    });

    it('sends alarms nowhere without alarmEmail', () => {
      s.templates.monitoring.resourceCountIs('AWS::SNS::Topic', 0);
    });
  });
});

describe('the single-database app', () => {
  it('synthesizes with every function on the one secret', () => {
    const s = synthesize(SINGLE_DATABASE);

    s.templates.secrets.resourceCountIs('AWS::SecretsManager::Secret', 2);
    expect(grantedSecrets(s, s.api.apiFunction)).toEqual(['main']);
    expect(grantedSecrets(s, s.jobs.queueWorker)).toEqual(['main']);
    expect(grantedSecrets(s, s.jobs.maintenance)).toEqual(['main']);
    expect(grantedSecrets(s, s.api.authorizerFunction as UpstashFunction)).toEqual(['api-keys']);
    expect(JSON.parse(environmentOf(s, s.api.apiFunction).FEATURE_DATABASES as string)).toEqual({
      cache: 'main',
      sessions: 'main',
      rateLimit: 'main',
      locks: 'main',
      queue: 'main',
    });
  });
});

describe('rate limits on a database of their own', () => {
  it('keeps that secret from the jobs, which never rate-limit', () => {
    const s = synthesize(THREE_DATABASES);

    expect(grantedSecrets(s, s.api.apiFunction)).toEqual(['cache', 'limits', 'state']);
    expect(grantedSecrets(s, s.jobs.queueWorker)).toEqual(['cache', 'state']);
    expect(grantedSecrets(s, s.jobs.maintenance)).toEqual(['state']);
  });
});

describe('JWT authorization with alarm e-mail', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthesize(JWT_WITH_ALARM_EMAIL);
  });

  it('uses a JWT authorizer, no authorizer function and no API-key secret', () => {
    s.templates.api.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: 'https://id.example.com/', Audience: ['upstash-state-api'] },
    });
    expect(s.api.authorizerFunction).toBeUndefined();
    s.templates.api.resourceCountIs('AWS::Lambda::Function', 1);
    s.templates.secrets.resourceCountIs('AWS::SecretsManager::Secret', 2);
    expect(JSON.parse(environmentOf(s, s.api.apiFunction).APP_CONFIG as string).auth).toEqual({
      type: 'jwt',
      issuer: 'https://id.example.com/',
      audience: ['upstash-state-api'],
      tenantClaim: 'tenant',
    });
  });

  it('mails every alarm through an encrypted, TLS-only topic', () => {
    s.templates.monitoring.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    s.templates.monitoring.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
    s.templates.monitoring.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    const alarms = Object.values(s.templates.monitoring.findResources('AWS::CloudWatch::Alarm'));
    // 4 functions (no authorizer with JWT) × 2, 5xx, 5xx rate, DLQ, dead-letter jobs, data size × 2,
    // budget.
    expect(alarms).toHaveLength(15);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toHaveLength(1);
  });

  it('has Resource "*" only in the key policy, where it means the key itself', () => {
    const keyPolicies = Object.values(s.templates.monitoring.findResources('AWS::KMS::Key')).flatMap(
      (key) => key.Properties.KeyPolicy.Statement,
    );
    for (const template of Object.values(s.templates)) {
      const wildcards = allStatements(template).filter((st) => JSON.stringify(st.Resource) === '"*"');
      for (const st of wildcards) expect(keyPolicies).toContainEqual(st);
    }
  });
});
