import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { type IRole, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  ApplicationLogLevel,
  Architecture,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
} from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { UpstashDatabaseSecret } from './upstash-database-secret';

/** Lets CommonJS dependencies `require` inside the ESM bundle. */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __createRequire } from 'node:module';const require = __createRequire(import.meta.url);";

/** Properties of an {@link UpstashFunction}. */
export interface UpstashFunctionProps {
  /** Path of the TypeScript entry file; it must export the handler. */
  readonly entry: string;
  /**
   * Name of the exported handler.
   *
   * @default 'handler'
   */
  readonly handler?: string;
  /**
   * The Upstash databases this function may read the credentials of. Each one is granted
   * `secretsmanager:GetSecretValue` on its secret and listed in `UPSTASH_DATABASES`.
   *
   * @default - no database: no Secrets Manager access and no `UPSTASH_DATABASES`
   */
  readonly databases?: readonly UpstashDatabaseSecret[];
  /**
   * Prefix of every Redis key the function writes (`KEY_PREFIX`).
   *
   * @default 'app'
   */
  readonly keyPrefix?: string;
  /**
   * Powertools service name (`POWERTOOLS_SERVICE_NAME`), also the `service` dimension of its metrics.
   *
   * @default - the construct id, lower-case
   */
  readonly serviceName?: string;
  /**
   * CloudWatch namespace of the function's EMF metrics (`POWERTOOLS_METRICS_NAMESPACE`).
   *
   * @default 'UpstashState'
   */
  readonly metricsNamespace?: string;
  /**
   * More environment variables. Never put credentials here: they would land in the template.
   *
   * @default - only the variables this construct sets
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Memory in MiB.
   *
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * Maximum run time of one invocation.
   *
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * How long the function's logs are kept.
   *
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Description of the function.
   *
   * @default - no description
   */
  readonly description?: string;
  /**
   * Queue that receives asynchronous invocations that failed every attempt.
   *
   * @default - no dead-letter queue
   */
  readonly deadLetterQueue?: IQueue;
  /**
   * Retries of a failed asynchronous invocation (0 to 2).
   *
   * @default - the Lambda default, 2
   */
  readonly retryAttempts?: number;
  /**
   * Maximum age of an asynchronous event before Lambda drops it (or sends it to the dead-letter queue).
   *
   * @default - the Lambda default, 6 hours
   */
  readonly maxEventAge?: Duration;
}

/**
 * A Node.js Lambda function set up for the Upstash runtime: newest Node runtime, ARM64, ESM bundle
 * (minified, source maps, `@aws-sdk/*` left to the runtime), JSON logs into its own log group
 * with a retention, and its own role that may write those logs and read exactly the secrets of
 * the databases it is given, nothing else.
 *
 * The function finds its databases in `UPSTASH_DATABASES` (`{"<name>":{"secretArn":"<arn>"}}`);
 * the credentials themselves are fetched from Secrets Manager at cold start, never passed in.
 *
 * @example
 * const fn = new UpstashFunction(this, 'Api', { entry: 'lambda/handlers/api.ts', databases: [cache, state] });
 */
export class UpstashFunction extends Construct {
  /** The function. */
  readonly function: NodejsFunction;
  /** The function's execution role. */
  readonly role: IRole;
  /** The function's log group. */
  readonly logGroup: LogGroup;
  /** The databases this function may read. */
  readonly databases: readonly UpstashDatabaseSecret[];
  /** Its `POWERTOOLS_SERVICE_NAME`: the `service` dimension of every metric it publishes. */
  readonly serviceName: string;

  constructor(scope: Construct, id: string, props: UpstashFunctionProps) {
    super(scope, id);
    this.databases = props.databases ?? [];
    this.serviceName = props.serviceName ?? id.toLowerCase();
    const names = this.databases.map((db) => db.databaseName);
    const duplicate = names.find((name, i) => names.indexOf(name) !== i);
    if (duplicate) throw new Error(`databases lists "${duplicate}" twice, got [${names.join(', ')}]`);

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Our own role instead of the default one: no AWS-managed AWSLambdaBasicExecutionRole.
    const role = new Role(this, 'ServiceRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${this.node.path}`,
    });
    this.logGroup.grantWrite(role);
    for (const db of this.databases) db.grantRead(role);
    this.role = role;

    // `{"<name>":{"secretArn":"<arn>"}}`, plus `"mode":"tcp"` for a TCP database and the
    // migration settings while one migrates.
    const upstashDatabases = Object.fromEntries(
      this.databases.map((db) => [
        db.databaseName,
        {
          secretArn: db.secretArn,
          ...(db.mode === 'tcp' ? { mode: db.mode } : {}),
          ...(db.migrating ? { migration: db.migration } : {}),
        },
      ]),
    );
    this.function = new NodejsFunction(this, 'Resource', {
      entry: props.entry,
      handler: props.handler ?? 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(10),
      role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel.INFO,
      systemLogLevelV2: SystemLogLevel.WARN,
      deadLetterQueue: props.deadLetterQueue,
      retryAttempts: props.retryAttempts,
      maxEventAge: props.maxEventAge,
      environment: {
        ...props.environment,
        ...(this.databases.length > 0
          ? { UPSTASH_DATABASES: Stack.of(this).toJsonString(upstashDatabases) }
          : {}),
        KEY_PREFIX: props.keyPrefix ?? 'app',
        POWERTOOLS_SERVICE_NAME: this.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace ?? 'UpstashState',
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        format: OutputFormat.ESM,
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        externalModules: ['@aws-sdk/*'],
      },
    });
  }
}
