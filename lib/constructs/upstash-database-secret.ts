import { RemovalPolicy } from 'aws-cdk-lib';
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
 * cache.grantRead(fn);
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

  constructor(scope: Construct, id: string, props: UpstashDatabaseSecretProps) {
    super(scope, id);
    this.databaseName = props.databaseName;
    this.mode = props.mode ?? 'rest';
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
  }

  /**
   * Grants `secretsmanager:GetSecretValue` on this secret, and nothing else.
   *
   * `Secret.grantRead` would also grant `DescribeSecret`, which the runtime does not need.
   */
  grantRead(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: ['secretsmanager:GetSecretValue'],
      resourceArns: [this.secretArn],
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
