import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { type CfnSecret, type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** Properties of an {@link UpstashDatabaseSecret}. */
export interface UpstashDatabaseSecretProps {
  /** Logical name of the database (the key of `databases` in the config, e.g. `cache`). */
  readonly databaseName: string;
  /**
   * How the runtime reaches the database: Upstash REST, or Redis over TCP (the secret then holds a
   * `rediss://` URL).
   *
   * @default 'rest'
   */
  readonly mode?: 'rest' | 'tcp';
  /**
   * Name of the secret in Secrets Manager.
   *
   * @default `upstash/<databaseName>`
   */
  readonly secretName?: string;
  /**
   * Description of the secret.
   *
   * @default - says which database it is and which JSON shape to store in it
   */
  readonly description?: string;
  /**
   * What happens to the secret when it leaves the stack.
   *
   * @default RemovalPolicy.RETAIN, so credentials survive a `cdk destroy`
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Migration of this database from a self-hosted Redis: creates an empty secret for the old
   * Redis's `{"url":"redis://..."}`, readable by this database's functions while the mode is
   * `shadow` or `rollout` (docs/migration.md).
   *
   * @default - not migrating
   */
  readonly migration?: DatabaseMigrationProps;
}

/** The migration of one database. */
export interface DatabaseMigrationProps {
  /** `off`, `shadow`, `rollout` or `upstash`. */
  readonly mode: 'off' | 'shadow' | 'rollout' | 'upstash';
  /**
   * Name of the secret with the old Redis's URL.
   *
   * @default `<secretName>/source`
   */
  readonly sourceSecretName?: string;
  /**
   * Share of reads Upstash serves in `rollout`, 0 to 100.
   *
   * @default 0
   */
  readonly rolloutPercent?: number;
  /**
   * Whether a key's side follows the key or its tenant.
   *
   * @default 'key'
   */
  readonly rolloutBy?: 'key' | 'tenant';
}

/**
 * An empty Secrets Manager secret for the credentials of one Upstash database.
 *
 * The template holds no value at all: the secret is created without a `SecretString` and without
 * `GenerateSecretString`, so no credential (and no random placeholder) ever reaches CloudFormation.
 * Fill it once after deploy:
 *
 * ```sh
 * aws secretsmanager put-secret-value --secret-id <arn> \
 *   --secret-string '{"url":"https://<db>.upstash.io","token":"<token>"}'
 * ```
 *
 * @example
 * const cache = new UpstashDatabaseSecret(this, 'Cache', { databaseName: 'cache' });
 * new UpstashFunction(this, 'Fn', { entry: 'src/fn.ts', features: { cache } });
 *
 * The secret cannot be rotated by AWS (Upstash issues the token), so the construct acknowledges
 * cdk-nag's rotation rule (AwsSolutions-SMG4) with that reason.
 */
export class UpstashDatabaseSecret extends Construct {
  /** Logical name of the database. */
  readonly databaseName: string;
  /** How the runtime reaches the database. */
  readonly mode: 'rest' | 'tcp';
  /** The secret. */
  readonly secret: ISecret;
  /** ARN of the secret. */
  readonly secretArn: string;
  /** The old Redis's secret, when the database migrates. */
  readonly migrationSource?: ISecret;
  /** The migration settings the runtime gets in `UPSTASH_DATABASES`, when the database migrates. */
  readonly migration?: {
    readonly mode: DatabaseMigrationProps['mode'];
    readonly sourceSecretArn: string;
    readonly rolloutPercent: number;
    readonly rolloutBy: 'key' | 'tenant';
  };

  constructor(scope: Construct, id: string, props: UpstashDatabaseSecretProps) {
    super(scope, id);
    this.databaseName = props.databaseName;
    this.mode = props.mode ?? 'rest';
    this.node.addValidation({ validate: () => UpstashDatabaseSecret.#problems(props) });
    const secret = new Secret(this, 'Resource', {
      secretName: props.secretName ?? `upstash/${props.databaseName}`,
      description:
        props.description ??
        `Upstash Redis REST credentials of the "${props.databaseName}" database: {"url":"https://...upstash.io","token":"..."}`,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    removeGeneratedValue(secret);
    this.secret = secret;
    this.secretArn = secret.secretArn;
    // cdk-nag AwsSolutions-SMG4 asks for rotation; there is nothing in AWS that can rotate these.
    Validations.of(this).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SMG4',
      reason:
        'Upstash issues the REST token; there is no AWS rotator for it. Rotate it in the Upstash console (or with ACL users) and put-secret-value: the runtime re-fetches the secret when Upstash answers Unauthorized.',
    });

    if (props.migration) {
      const source = new Secret(this, 'MigrationSource', {
        secretName:
          props.migration.sourceSecretName ?? `${props.secretName ?? `upstash/${props.databaseName}`}/source`,
        description: `Credentials of the self-hosted Redis the "${props.databaseName}" database migrates from: {"url":"redis://..."} or rediss://`,
        removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      });
      removeGeneratedValue(source);
      Validations.of(source).acknowledge({
        id: 'AwsSolutions::AwsSolutions-SMG4',
        reason:
          "It holds the URL of the self-hosted Redis being migrated away from; that Redis and its password are the operator's, outside AWS rotation, and the secret is deleted after the cut-over.",
      });
      this.migrationSource = source;
      this.migration = {
        mode: props.migration.mode,
        sourceSecretArn: source.secretArn,
        rolloutPercent: props.migration.rolloutPercent ?? 0,
        rolloutBy: props.migration.rolloutBy ?? 'key',
      };
    }
  }

  static #problems(props: UpstashDatabaseSecretProps): string[] {
    const problems: string[] = [];
    // The name reaches the runtime in variable names (`UPSTASH_REDIS_REST_URL_<DB>` locally).
    if (!/^[A-Za-z][A-Za-z0-9_-]{0,31}$/.test(props.databaseName)) {
      problems.push(
        `databaseName must be 1-32 letters, digits, _ or -, starting with a letter, got ${JSON.stringify(props.databaseName)}`,
      );
    }
    const percent = props.migration?.rolloutPercent;
    if (percent !== undefined && !(percent >= 0 && percent <= 100)) {
      problems.push(`migration.rolloutPercent must be from 0 to 100, got ${percent}`);
    }
    return problems;
  }

  /** Whether the functions of this database reach the old Redis (mode `shadow` or `rollout`). */
  get migrating(): boolean {
    return this.migration?.mode === 'shadow' || this.migration?.mode === 'rollout';
  }

  /**
   * Grants `secretsmanager:GetSecretValue` on this secret (and, while migrating in `shadow` or
   * `rollout`, on the old Redis's secret), and nothing else.
   *
   * `Secret.grantRead` would also grant `DescribeSecret`, which the runtime does not need.
   */
  grantRead(grantee: IGrantable): Grant {
    // The old Redis's secret only while the runtime talks to it: least privilege after cut-over.
    const source = this.migrating && this.migration ? [this.migration.sourceSecretArn] : [];
    return Grant.addToPrincipal({
      grantee,
      actions: ['secretsmanager:GetSecretValue'],
      resourceArns: [this.secretArn, ...source],
    });
  }
}

/**
 * Drops the random value the `Secret` L2 generates when given none, which makes CloudFormation
 * create an empty secret (no version until `put-secret-value`).
 */
export function removeGeneratedValue(secret: Secret): void {
  (secret.node.defaultChild as CfnSecret).addPropertyDeletionOverride('GenerateSecretString');
}
