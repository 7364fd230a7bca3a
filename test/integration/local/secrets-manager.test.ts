import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SecretsManagerEndpoint } from '../../../local/secrets-manager/server';
import { startLocalSecretsManager } from '../../helpers/secrets-manager';

describe('SecretsManagerEndpoint', () => {
  let endpoint: SecretsManagerEndpoint;
  let client: SecretsManagerClient;

  beforeAll(async () => {
    endpoint = await startLocalSecretsManager({ 'upstash/state': '{"url":"https://a","token":"t1"}' });
    // No explicit endpoint: the SDK must find it through AWS_ENDPOINT_URL_SECRETS_MANAGER.
    client = new SecretsManagerClient({});
  });
  afterAll(async () => {
    client.destroy();
    await endpoint.close();
  });
  beforeEach(() => endpoint.resetCounts());

  it('serves GetSecretValue by name through the real SDK', async () => {
    const reply = await client.send(new GetSecretValueCommand({ SecretId: 'upstash/state' }));

    expect(reply.SecretString).toBe('{"url":"https://a","token":"t1"}');
    expect(reply.Name).toBe('upstash/state');
    expect(reply.VersionStages).toEqual(['AWSCURRENT']);
    expect(reply.ARN).toMatch(
      /^arn:aws:secretsmanager:us-east-1:000000000000:secret:upstash\/state-[A-Za-z0-9]{6}$/,
    );
    expect(reply.CreatedDate).toBeInstanceOf(Date);
  });

  it('serves GetSecretValue by full and partial ARN', async () => {
    const arn = endpoint.arn('upstash/state');

    const full = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    const partial = await client.send(new GetSecretValueCommand({ SecretId: arn.slice(0, -7) }));

    expect(full.Name).toBe('upstash/state');
    expect(partial.ARN).toBe(arn);
  });

  it('answers a missing secret with ResourceNotFoundException and the AWS message', async () => {
    const error = await client.send(new GetSecretValueCommand({ SecretId: 'upstash/none' })).catch((e) => e);

    expect(error).toBeInstanceOf(ResourceNotFoundException);
    expect(error.message).toBe("Secrets Manager can't find the specified secret.");
    expect(error.$metadata.httpStatusCode).toBe(400);
  });

  it('counts GetSecretValue requests per secret, by name or ARN', async () => {
    await client.send(new GetSecretValueCommand({ SecretId: 'upstash/state' }));
    await client.send(new GetSecretValueCommand({ SecretId: endpoint.arn('upstash/state') }));
    await client.send(new GetSecretValueCommand({ SecretId: 'upstash/none' })).catch(() => {});

    expect(endpoint.fetches('upstash/state')).toBe(2);
    expect(endpoint.fetches(endpoint.arn('upstash/state'))).toBe(2);
    expect(endpoint.totalFetches).toBe(3);
  });

  it('makes PutSecretValue the new AWSCURRENT and keeps the old one as AWSPREVIOUS', async () => {
    await client.send(new CreateSecretCommand({ Name: 'rotating', SecretString: 'v1' }));

    const put = await client.send(new PutSecretValueCommand({ SecretId: 'rotating', SecretString: 'v2' }));
    const current = await client.send(new GetSecretValueCommand({ SecretId: 'rotating' }));
    const previous = await client.send(
      new GetSecretValueCommand({ SecretId: 'rotating', VersionStage: 'AWSPREVIOUS' }),
    );
    const described = await client.send(new DescribeSecretCommand({ SecretId: 'rotating' }));

    expect(current.SecretString).toBe('v2');
    expect(current.VersionId).toBe(put.VersionId);
    expect(previous.SecretString).toBe('v1');
    expect(Object.values(described.VersionIdsToStages ?? {}).sort()).toEqual([
      ['AWSCURRENT'],
      ['AWSPREVIOUS'],
    ]);
  });

  it('updates a secret in-process with put()', async () => {
    endpoint.create('in-process', 'a');

    endpoint.put('in-process', 'b');

    const reply = await client.send(new GetSecretValueCommand({ SecretId: 'in-process' }));
    expect(reply.SecretString).toBe('b');
  });

  it('refuses to create a secret twice', async () => {
    const error = await client
      .send(new CreateSecretCommand({ Name: 'upstash/state', SecretString: 'x' }))
      .catch((e) => e);

    expect(error.name).toBe('ResourceExistsException');
  });
});
