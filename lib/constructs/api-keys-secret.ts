import { RemovalPolicy } from 'aws-cdk-lib';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { removeGeneratedValue } from './upstash-database-secret';

/** Properties of an {@link ApiKeysSecret}. */
export interface ApiKeysSecretProps {
  /**
   * Name of the secret in Secrets Manager.
   *
   * @default 'upstash/api-keys'
   */
  readonly secretName?: string;
  /**
   * What happens to the secret when it leaves the stack.
   *
   * @default RemovalPolicy.RETAIN, so issued keys survive a `cdk destroy`
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * An empty Secrets Manager secret for the API keys the authorizer accepts.
 *
 * It holds `{"keys":[{"hash":"<sha256 hex>","tenant":"t","scopes":[...]}]}`: only hashes, never a
 * key. `npm run api-key -- create` mints a key, prints it once and appends its hash. Until then the
 * secret has no value and every request is denied.
 */
export class ApiKeysSecret extends Construct {
  /** The secret. */
  readonly secret: ISecret;
  /** ARN of the secret. */
  readonly secretArn: string;

  constructor(scope: Construct, id: string, props: ApiKeysSecretProps = {}) {
    super(scope, id);
    const secret = new Secret(this, 'Resource', {
      secretName: props.secretName ?? 'upstash/api-keys',
      description:
        'SHA-256 hashes of the API keys, with tenant and scopes: {"keys":[{"hash","tenant","scopes"}]}',
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    removeGeneratedValue(secret);
    this.secret = secret;
    this.secretArn = secret.secretArn;
  }

  /** Grants `secretsmanager:GetSecretValue` on this secret, and nothing else. */
  grantRead(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: ['secretsmanager:GetSecretValue'],
      resourceArns: [this.secretArn],
    });
  }
}
