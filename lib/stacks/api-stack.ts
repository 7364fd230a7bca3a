import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  HttpApi,
  type HttpMethod,
  HttpNoneAuthorizer,
  HttpRoute,
  HttpRouteKey,
  HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import {
  HttpJwtAuthorizer,
  HttpLambdaAuthorizer,
  HttpLambdaResponseType,
} from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { ICommandHooks } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { deploymentOpenApi } from '../../lambda/handlers/api/openapi-document';
import { OPENAPI_FILE } from '../../lambda/handlers/api/openapi-route';
import { SERVICES } from '../../lambda/shared/metric-definitions';
import { ROUTES } from '../../lambda/shared/routes';
import { type AppConfig, FEATURES, runtimeConfig } from '../config';
// The public constructs (`upstash-serverless-state/constructs`), as a user's stack imports them.
import { type ApiKeysSecret, type UpstashDatabaseSecret, UpstashFunction } from '../constructs';
import { featureSecrets, handlerEntry } from '../runtime';

/** Properties of the {@link ApiStack}. */
export interface ApiStackProps extends StackProps {
  /** The validated configuration. */
  readonly config: AppConfig;
  /** The secret of each database, by database name (from the secrets stack). */
  readonly databases: Readonly<Record<string, UpstashDatabaseSecret>>;
  /**
   * The API-key secret (from the secrets stack); required when `auth.type` is `api-key`.
   *
   * @default - none; only valid with `auth.type` `jwt`
   */
  readonly apiKeys?: ApiKeysSecret;
}

/** The request fields written to the access log, one JSON object per request. */
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  requestTime: '$context.requestTime',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  latency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  authorizerError: '$context.authorizer.error',
  tenant: '$context.authorizer.tenant',
};

/**
 * Command hooks that put a file with `text` beside a function's bundle, as `name`: the text is
 * written to a file of its own at synth (named by its hash, so a synth writes it once), then
 * copied into the bundle's directory, whose hash it is part of.
 */
function besideTheBundle(name: string, text: string): ICommandHooks {
  const file = join(
    tmpdir(),
    `upstash-${createHash('sha256').update(text).digest('hex').slice(0, 16)}-${name}`,
  );
  if (!existsSync(file)) writeFileSync(file, text);
  const copy = process.platform === 'win32' ? 'copy /y' : 'cp';
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (_inputDir, outputDir) => [`${copy} "${file}" "${join(outputDir, name)}"`],
  };
}

/**
 * The HTTP API: one route per entry of `ROUTES` (lambda/shared/routes.ts), all served by the api
 * function, every route but the public ones behind the configured authorizer, on an explicit
 * stage with JSON access logs and throttling.
 */
export class ApiStack extends Stack {
  /** The HTTP API. */
  readonly api: HttpApi;
  /** The stage that serves it. */
  readonly stage: HttpStage;
  /** The function behind every route. */
  readonly apiFunction: UpstashFunction;
  /** The Lambda authorizer's function, when `auth.type` is `api-key`. */
  readonly authorizerFunction?: UpstashFunction;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { config } = props;
    const common = {
      keyPrefix: config.keyPrefix,
      metricsNamespace: config.metricsNamespace,
      logRetention: config.logRetentionDays,
    };

    this.apiFunction = new UpstashFunction(this, 'ApiFunction', {
      ...common,
      entry: handlerEntry('api'),
      serviceName: SERVICES.api,
      description: 'Serves the HTTP API: cache, sessions, rate limits, jobs',
      memorySize: 512,
      timeout: Duration.seconds(10),
      features: featureSecrets(config, props.databases, FEATURES),
      config: runtimeConfig(config),
      // GET /openapi.json serves the document generated here, beside the bundle.
      bundling: { commandHooks: besideTheBundle(OPENAPI_FILE, JSON.stringify(deploymentOpenApi())) },
    });

    let authorizer: IHttpRouteAuthorizer;
    if (config.auth.type === 'api-key') {
      if (!props.apiKeys)
        throw new Error('auth.type is "api-key" but no apiKeys secret was given to the api stack');
      const fn = new UpstashFunction(this, 'AuthorizerFunction', {
        ...common,
        entry: handlerEntry('authorizer'),
        serviceName: SERVICES.authorizer,
        description: 'Maps an x-api-key header to its tenant and scopes',
        memorySize: 256,
        timeout: Duration.seconds(5),
        environment: {
          API_KEYS_SECRET_ARN: props.apiKeys.secretArn,
          // With the gateway's cache below, a revoked key stops within auth.revocationDelay.
          API_KEYS_MAX_AGE_MS: String(config.auth.keySetMaxAgeMs),
        },
        config: runtimeConfig(config),
      });
      props.apiKeys.grantRead(fn.role);
      this.authorizerFunction = fn;
      authorizer = new HttpLambdaAuthorizer('ApiKeyAuthorizer', fn.function, {
        authorizerName: 'api-key',
        responseTypes: [HttpLambdaResponseType.SIMPLE],
        identitySource: ['$request.header.x-api-key'],
        resultsCacheTtl: Duration.millis(config.auth.cacheTtlMs),
      });
    } else {
      authorizer = new HttpJwtAuthorizer('JwtAuthorizer', config.auth.issuer, {
        authorizerName: 'jwt',
        jwtAudience: [...config.auth.audience],
      });
    }

    this.api = new HttpApi(this, 'HttpApi', {
      description: 'Cache, sessions, rate limits, locks and a job queue on Upstash Redis',
      createDefaultStage: false,
    });
    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: config.logRetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new HttpStage(this, 'Stage', {
      httpApi: this.api,
      autoDeploy: true,
      throttle: { rateLimit: config.api.throttleRateLimit, burstLimit: config.api.throttleBurstLimit },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    // One permission for the whole API instead of one per route (16 policy statements).
    const integration = new HttpLambdaIntegration('ApiIntegration', this.apiFunction.function, {
      scopePermissionToRoute: false,
    });
    for (const route of ROUTES) {
      const [httpRoute] = this.api.addRoutes({
        path: route.path,
        methods: [route.method as HttpMethod],
        integration,
        authorizer: route.auth ? authorizer : new HttpNoneAuthorizer(),
      });
      if (!route.auth && httpRoute) {
        Validations.of(httpRoute).acknowledge({
          id: 'AwsSolutions::AwsSolutions-APIG4',
          reason: `${route.method} ${route.path} is public by design (ROUTES marks it auth: false): it returns no tenant data (the health of the databases for load balancers and uptime checks, or the API's own OpenAPI document for client generators).`,
        });
      }
    }

    // Requests no route matches reach the function too, so a wrong method gets 405 and an unknown
    // path 404 in the API's own error format instead of API Gateway's bare {"message":"Not Found"}.
    const fallback = new HttpRoute(this.api, 'DefaultRoute', {
      httpApi: this.api,
      routeKey: HttpRouteKey.DEFAULT,
      integration,
      authorizer: new HttpNoneAuthorizer(),
    });
    Validations.of(fallback).acknowledge({
      id: 'AwsSolutions::AwsSolutions-APIG4',
      reason:
        '$default only catches requests that match no route; the api function answers them 404/405 without reading any data (and CORS preflights), so no credentials are needed.',
    });

    new CfnOutput(this, 'ApiUrl', { value: this.stage.url, description: 'Base URL of the HTTP API' });
  }
}
