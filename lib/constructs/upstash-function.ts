import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { type IGrantable, type IPrincipal, type IRole, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  ApplicationLogLevel,
  Architecture,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
} from 'aws-cdk-lib/aws-lambda';
import {
  type BundlingOptions,
  NodejsFunction,
  type NodejsFunctionProps,
  OutputFormat,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { type ILogGroup, LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import * as v from 'valibot';
import { LAZY_SDK_LABEL, OPENAPI_LABEL, TCP_LABEL } from '../../lambda/shared/bundle-labels';
import {
  DEFAULTS,
  describeIssues,
  FEATURES,
  type Feature,
  KEY_PREFIX,
  type RuntimeConfigInput,
  RuntimeConfigSchema,
} from '../../lambda/shared/config';
import { ENV, functionEnvironment } from '../../lambda/shared/env';
import type { UpstashDatabaseSecret } from './upstash-database-secret';

/** The Node option `enableSourceMaps` adds to `NODE_OPTIONS`. */
export const SOURCE_MAPS_OPTION = '--enable-source-maps';

/** Lets CommonJS dependencies `require` inside the ESM bundle. */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __createRequire } from 'node:module';const require = __createRequire(import.meta.url);";

/**
 * Modules the bundles leave out although the AWS SDK itself is bundled: those the SDK imports only
 * lazily (`import()`), on paths a Lambda function reading a secret never takes. They are not
 * shipped, and the dynamic imports stay unresolved; the Lambda runtime would provide them if one
 * were ever taken.
 * - The credential providers the default chain loads only when the environment holds no
 *   credentials (single sign-on, profiles, processes, web identity, container and instance
 *   metadata, console login) and the clients they use: a Lambda function always has its role's
 *   credentials in its environment.
 * - Event streams (`@smithy/core/event-streams`): no Secrets Manager operation streams.
 * - `bowser`: the browser's user-agent parser.
 *
 * Bundled, the credential providers would only be parsed (130 KB). A lazily imported module
 * that shares code with the rest also makes esbuild wrap all of that shared code in lazy
 * initialisers, which V8 then compiles twice (skimmed at load, in full on first use): the event
 * streams did that to most of the SDK. `npm run bench` measures both.
 */
export const SDK_LEFT_TO_RUNTIME: readonly string[] = [
  '@aws-sdk/credential-provider-http',
  '@aws-sdk/credential-provider-ini',
  '@aws-sdk/credential-provider-login',
  '@aws-sdk/credential-provider-process',
  '@aws-sdk/credential-provider-sso',
  '@aws-sdk/credential-provider-web-identity',
  '@aws-sdk/nested-clients',
  '@aws-sdk/token-providers',
  '@smithy/credential-provider-imds',
  '@smithy/core/event-streams',
  'bowser',
];

/** A runtime module's file: `.ts` in the source tree, `.js` in the built package. */
const runtimeModule = (name: string): string =>
  fileURLToPath(
    new URL(`../../lambda/shared/${name}.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url),
  );

/**
 * The modules every bundle injects (esbuild `inject`: each binds a global name in the bundle, and
 * only where the bundle's code reads that name):
 * - `upstash-fetch` as `fetch`: the Upstash clients' requests over `node:https` instead of undici;
 * - `secrets-manager-client` as `UPSTASH_SECRETS_MANAGER_SDK`: the Secrets Manager client,
 *   imported statically.
 */
export const INJECTED_MODULES: readonly string[] = [
  runtimeModule('upstash-fetch'),
  runtimeModule('secrets-manager-client'),
];

/**
 * Built-in modules every bundle takes from a module of the runtime instead (esbuild `--alias`):
 * `node:process` from `node-process`, the global `process` without the cost of an ES module
 * namespace of it (lambda/shared/node-process.ts).
 */
export const ALIASED_BUILTINS: Readonly<Record<string, string>> = {
  'node:process': runtimeModule('node-process'),
};

/** Which database serves which feature: `{ cache: cacheDb, rateLimit: stateDb }`. */
export type FeatureDatabases = Readonly<Partial<Record<Feature, UpstashDatabaseSecret>>>;

/** Properties of an {@link UpstashFunction}: every option of `NodejsFunction`, plus its databases. */
export interface UpstashFunctionProps extends NodejsFunctionProps {
  /**
   * Which database serves which feature of the runtime (`cache`, `sessions`, `rateLimit`,
   * `locks`, `queue`). From it the construct writes the function's `FEATURE_DATABASES` and
   * `UPSTASH_DATABASES` and grants `secretsmanager:GetSecretValue` on exactly those secrets;
   * `redisFor('cache')` in the handler then reaches the right database, whatever its name.
   *
   * @default - no feature: the function reads no database
   */
  readonly features?: FeatureDatabases;
  /**
   * Databases the function reads by name (`redisForDatabase`) without a feature, besides those
   * of `features` (the usage probe reads every database).
   *
   * @default - only the databases of `features`
   */
  readonly databases?: readonly UpstashDatabaseSecret[];
  /**
   * Prefix of every Redis key the function writes (`KEY_PREFIX`).
   *
   * @default 'app'
   */
  readonly keyPrefix?: string;
  /**
   * The runtime configuration (`APP_CONFIG`): rate limits, session lifetimes, cache behaviour.
   * Validated against the runtime schema at synth; every setting left out takes the default the
   * services use (`DEFAULTS` of `lambda/shared/config.ts`).
   *
   * @default - none: the defaults
   */
  readonly config?: RuntimeConfigInput;
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
   * The function's log group; the construct grants its role writing to it.
   *
   * @default - a log group of its own, with `logRetention`
   */
  readonly logGroup?: ILogGroup;
  /**
   * Retention of the log group the construct creates when `logGroup` is not given. (Unlike
   * `FunctionOptions.logRetention`, no custom resource: the group is an ordinary resource.)
   *
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Whether Node reads the bundle's source map when the function starts (`--enable-source-maps`,
   * added to `NODE_OPTIONS`), so the stack traces it logs point at the TypeScript sources.
   *
   * Off by default because the map costs every container: on Node 20, reading it at load is
   * about 10 ms of CPU per cold start (a third of an empty handler's whole start); on Node 24 the
   * load costs a few ms, and the first stack trace printed in a container then decodes the whole
   * map, about 50 ms of CPU in the middle of the failing request (`npm run bench`;
   * docs/architecture.md, "Cold starts"). The map is shipped beside the bundle either way
   * (`index.mjs.map`, without sources): a logged position such as `index.mjs:1:4166` can be
   * mapped offline, or turn this on while chasing an error.
   *
   * @default false
   */
  readonly enableSourceMaps?: boolean;
}

/**
 * A Node.js Lambda function set up for the Upstash runtime: newest Node runtime, ARM64, ESM bundle
 * (minified, a source map beside it, the Secrets Manager client bundled: {@link UpstashFunction.bundling}), JSON logs into its own log group
 * with a retention, and its own role that may write those logs and read exactly the secrets of
 * the databases its features use, nothing else. Any `NodejsFunction` option overrides these
 * defaults (`bundling` field by field): `runtime` Node.js 24, `architecture` ARM64, `memorySize`
 * 256, `timeout` 10 s, `loggingFormat` JSON (application logs INFO, system logs WARN), `role` and
 * `logGroup` of its own.
 *
 * The function finds its databases in `UPSTASH_DATABASES` and its features' databases in
 * `FEATURE_DATABASES`, both written here from `features`; the credentials themselves are fetched
 * from Secrets Manager at cold start, never passed in.
 *
 * @example
 * const cache = new UpstashDatabaseSecret(this, 'Cache', { databaseName: 'page-cache' });
 * const limits = new UpstashDatabaseSecret(this, 'Limits', { databaseName: 'limits' });
 * new UpstashFunction(this, 'Search', {
 *   entry: 'src/search.ts',
 *   features: { cache, rateLimit: limits },
 *   config: { rateLimits: { search: { algorithm: 'sliding-window', limit: 20, windowMs: 60_000 } } },
 * });
 */
export class UpstashFunction extends Construct implements IGrantable {
  /** The function. */
  readonly function: NodejsFunction;
  /** The function's execution role. */
  readonly role: IRole;
  /** The function's log group. */
  readonly logGroup: ILogGroup;
  /** Every database this function may read (its features' and `databases`), each once. */
  readonly databases: readonly UpstashDatabaseSecret[];
  /** The database of each of its features. */
  readonly features: FeatureDatabases;
  /** Its `POWERTOOLS_SERVICE_NAME`: the `service` dimension of every metric it publishes. */
  readonly serviceName: string;
  /**
   * The bundling its `NodejsFunction` was given ({@link UpstashFunction.bundling} with the props'
   * `bundling` over it): for tools that rebuild the bundle, e.g. to read its esbuild metafile.
   */
  readonly bundling: BundlingOptions;
  readonly grantPrincipal: IPrincipal;

  constructor(scope: Construct, id: string, props: UpstashFunctionProps = {}) {
    super(scope, id);
    const {
      features = {},
      databases: extra = [],
      keyPrefix = DEFAULTS.keyPrefix,
      config,
      serviceName,
      metricsNamespace = DEFAULTS.metricsNamespace,
      logRetention,
      enableSourceMaps = false,
      ...functionProps
    } = props;
    this.features = features;
    this.serviceName = serviceName ?? id.toLowerCase();
    const all = [...FEATURES.map((feature) => features[feature]), ...extra].filter((db) => db !== undefined);
    this.databases = [...new Set(all)];

    this.logGroup =
      functionProps.logGroup ??
      new LogGroup(this, 'Logs', {
        retention: logRetention ?? RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });
    // Our own role instead of the default one: no AWS-managed AWSLambdaBasicExecutionRole.
    const role =
      functionProps.role ??
      new Role(this, 'ServiceRole', {
        assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
        description: `Execution role of ${this.node.path}`,
      });
    this.logGroup.grantWrite(role);
    for (const db of this.databases) db.grantRead(role);
    this.role = role;
    this.grantPrincipal = role;

    this.bundling = UpstashFunction.bundling(
      functionProps.bundling,
      this.databases.some((db) => db.mode === 'tcp' || db.migrating),
    );
    this.function = new NodejsFunction(this, 'Resource', {
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(10),
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel.INFO,
      systemLogLevelV2: SystemLogLevel.WARN,
      ...functionProps,
      role,
      logGroup: this.logGroup,
      environment: {
        ...functionProps.environment,
        ...this.#environment(keyPrefix, config),
        POWERTOOLS_SERVICE_NAME: this.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: metricsNamespace,
        ...(enableSourceMaps
          ? {
              NODE_OPTIONS: [functionProps.environment?.NODE_OPTIONS, SOURCE_MAPS_OPTION]
                .filter((option) => option)
                .join(' '),
            }
          : {}),
      },
      bundling: this.bundling,
    });

    this.node.addValidation({ validate: () => this.#problems(props) });
  }

  /**
   * The bundling of every Upstash function, chosen by measured cold starts (`npm run bench`,
   * docs/architecture.md): ESM, minified, source maps without sources, a `require` shim for
   * CommonJS dependencies, and
   * - the AWS SDK bundled (the Secrets Manager client, minified into the function, loads in about
   *   half the CPU time of the runtime's copy), less the credential providers a Lambda function
   *   never reaches ({@link SDK_LEFT_TO_RUNTIME});
   * - {@link INJECTED_MODULES}: `fetch` for the Upstash clients (they skip loading undici) and the
   *   Secrets Manager client as top-level code (the runtime's lazy import of it dropped);
   * - esbuild's `--drop-labels` (lambda/shared/bundle-labels.ts) of the runtime's lazy SDK import
   *   (the SDK is injected instead) and of the api's OpenAPI generator (the api stack ships the
   *   document), and for a function whose databases are all reached over REST, of its
   *   `UPSTASH_TCP` imports: ioredis, the TCP client and the migration code are neither shipped
   *   nor parsed;
   * - {@link ALIASED_BUILTINS}: `node:process` as the global, not an ES module namespace.
   *
   * `overrides` win field by field.
   *
   * @param tcp whether one of the function's databases is reached over TCP (`mode: 'tcp'`, or an
   *   old Redis while migrating)
   */
  static bundling(overrides: BundlingOptions = {}, tcp = false): BundlingOptions {
    return {
      format: OutputFormat.ESM,
      mainFields: ['module', 'main'],
      banner: ESM_REQUIRE_BANNER,
      minify: true,
      sourceMap: true,
      sourcesContent: false,
      bundleAwsSDK: true,
      externalModules: [...SDK_LEFT_TO_RUNTIME],
      inject: [...INJECTED_MODULES],
      esbuildArgs: {
        '--drop-labels': [LAZY_SDK_LABEL, OPENAPI_LABEL, ...(tcp ? [] : [TCP_LABEL])].join(','),
        ...Object.fromEntries(Object.entries(ALIASED_BUILTINS).map(([id, file]) => [`--alias:${id}`, file])),
      },
      ...overrides,
    };
  }

  /** `UPSTASH_DATABASES`, `FEATURE_DATABASES`, `KEY_PREFIX` and `APP_CONFIG`, from the props. */
  #environment(keyPrefix: string, config: RuntimeConfigInput | undefined): Record<string, string> {
    const featureDatabases = Object.fromEntries(
      FEATURES.flatMap((feature) => {
        const db = this.features[feature];
        return db ? [[feature, db.databaseName]] : [];
      }),
    );
    // `{"<name>":{"secretArn":"<arn>"}}`, plus `"mode":"tcp"` for a TCP database and the
    // migration settings while one migrates.
    const databases = Object.fromEntries(
      this.databases.map((db) => [
        db.databaseName,
        {
          secretArn: db.secretArn,
          ...(db.mode === 'tcp' ? { mode: db.mode } : {}),
          ...(db.migrating && db.migration ? { migration: db.migration } : {}),
        },
      ]),
    );
    // Invalid config is reported by the validation below; the environment then carries none.
    const parsed = config === undefined ? undefined : v.safeParse(RuntimeConfigSchema, config);
    const env = functionEnvironment({
      databases,
      features: featureDatabases,
      keyPrefix,
      ...(parsed?.success ? { config: parsed.output } : {}),
    });
    if (this.databases.length === 0) {
      delete env[ENV.databases];
      delete env[ENV.features];
    } else {
      // The ARNs are tokens: the stack renders them into the JSON at synth.
      env[ENV.databases] = Stack.of(this).toJsonString(databases);
    }
    return env;
  }

  #problems(props: UpstashFunctionProps): string[] {
    const problems: string[] = [];
    const byName = new Map<string, UpstashDatabaseSecret>();
    for (const db of this.databases) {
      const other = byName.get(db.databaseName);
      if (other) {
        problems.push(
          `two databases are named "${db.databaseName}" (${other.node.path} and ${db.node.path}): each database of a function needs its own name`,
        );
      }
      byName.set(db.databaseName, db);
    }
    for (const key of Object.keys(props.features ?? {})) {
      if (!(FEATURES as readonly string[]).includes(key)) {
        problems.push(`features.${key} is not a feature (known: ${FEATURES.join(', ')})`);
      }
    }
    if (props.keyPrefix !== undefined && !KEY_PREFIX.test(props.keyPrefix)) {
      problems.push(
        `keyPrefix must be letters, digits, _ or -, at most 32, got ${JSON.stringify(props.keyPrefix)}`,
      );
    }
    for (const name of Object.values(ENV)) {
      if (props.environment?.[name] !== undefined) {
        problems.push(`environment.${name} is written by the construct from its props; set those instead`);
      }
    }
    if (props.config !== undefined) {
      const result = v.safeParse(RuntimeConfigSchema, props.config, {
        abortEarly: false,
        abortPipeEarly: true,
      });
      if (!result.success) problems.push(...describeIssues('config', result.issues));
    }
    return problems;
  }
}
