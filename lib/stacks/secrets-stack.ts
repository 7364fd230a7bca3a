import { CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { AppConfig } from '../config';
// The public constructs (`upstash-serverless-state/constructs`), as a user's stack imports them.
import { ApiKeysSecret, UpstashDatabaseSecret } from '../constructs';

/** Properties of the {@link SecretsStack}. */
export interface SecretsStackProps extends StackProps {
  /** The validated configuration. */
  readonly config: AppConfig;
}

/**
 * The secrets: one per Upstash database, plus the API-key hashes when `auth.type` is `api-key`.
 * They are retained when the stack is deleted, and the template holds none of their values.
 */
export class SecretsStack extends Stack {
  /** The secret of each database, by database name. */
  readonly databases: Readonly<Record<string, UpstashDatabaseSecret>>;
  /** The API-key secret, when the API authorizes with API keys. */
  readonly apiKeys?: ApiKeysSecret;

  constructor(scope: Construct, id: string, props: SecretsStackProps) {
    super(scope, id, props);
    const { config } = props;
    const databases: Record<string, UpstashDatabaseSecret> = {};
    for (const [name, db] of Object.entries(config.databases)) {
      const secret = new UpstashDatabaseSecret(this, `Database-${name}`, {
        databaseName: name,
        secretName: db.secretName,
        mode: db.mode,
        ...(db.migration ? { migration: db.migration } : {}),
      });
      if (secret.migrationSource) {
        new CfnOutput(this, `MigrationSourceSecretArn-${name}`, {
          value: secret.migrationSource.secretArn,
          description: `Fill with: aws secretsmanager put-secret-value --secret-id <this> --secret-string '{"url":"rediss://:<password>@<host>:6379"}'`,
        });
      }
      new CfnOutput(this, `DatabaseSecretArn-${name}`, {
        value: secret.secretArn,
        description: `Fill with: aws secretsmanager put-secret-value --secret-id <this> --secret-string '{"url":"https://...upstash.io","token":"..."}'`,
      });
      databases[name] = secret;
    }
    this.databases = databases;

    if (config.auth.type === 'api-key') {
      const apiKeys = new ApiKeysSecret(this, 'ApiKeys', { secretName: config.auth.secretName });
      Validations.of(apiKeys).acknowledge({
        id: 'AwsSolutions::AwsSolutions-SMG4',
        reason:
          'The secret holds SHA-256 hashes of API keys, not a credential; keys are rotated by minting a new one and revoking the old with npm run api-key.',
      });
      new CfnOutput(this, 'ApiKeysSecretArn', {
        value: apiKeys.secretArn,
        description: 'Mint a key with: npm run api-key -- create --tenant <tenant> --secret-id <this>',
      });
      this.apiKeys = apiKeys;
    }
  }
}
