import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listen, serverUrl } from '../listen';

/** Options of {@link SecretsManagerEndpoint.start}. */
export interface SecretsManagerEndpointOptions {
  /**
   * Port to listen on.
   * @default 0 - a free port chosen by the OS
   */
  readonly port?: number;
  /**
   * Interface to bind.
   * @default '127.0.0.1'
   */
  readonly host?: string;
  /**
   * Secrets to create at start, name -> SecretString.
   * @default - none
   */
  readonly secrets?: Readonly<Record<string, string>>;
  /**
   * Region and account that appear in ARNs.
   * @default { region: 'us-east-1', account: '000000000000' }
   */
  readonly region?: string;
  readonly account?: string;
}

interface Version {
  readonly id: string;
  readonly value: string;
  readonly created: number;
  stages: string[];
}

interface Secret {
  readonly name: string;
  readonly arn: string;
  readonly created: number;
  versions: Version[];
  fetches: number;
}

/** An AWS JSON 1.1 error: the SDK reads `__type` and throws an exception of that name. */
class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const NOT_FOUND = "Secrets Manager can't find the specified secret.";
const ARN_SUFFIX = /-[A-Za-z0-9]{6}$/;
const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

const suffix = (): string => [...randomBytes(6)].map((b) => ALPHANUMERIC[b % ALPHANUMERIC.length]).join('');
const epochSeconds = (ms: number): number => Math.round(ms) / 1000;

/**
 * A local AWS Secrets Manager over node:http speaking the AWS JSON 1.1 protocol
 * (`X-Amz-Target: secretsmanager.<Operation>`), so the real `@aws-sdk/client-secrets-manager`
 * runs unchanged against it through `AWS_ENDPOINT_URL_SECRETS_MANAGER` (or the client's
 * `endpoint`) with any dummy AWS credentials; signatures are not checked.
 *
 * Operations: `GetSecretValue` (by name or ARN, by `VersionId` or `VersionStage`),
 * `PutSecretValue` (new `AWSCURRENT`, old one `AWSPREVIOUS`), `CreateSecret`,
 * `DescribeSecret`, `ListSecrets`. Secret values are never logged; errors quote names only.
 *
 * @example
 * const sm = await SecretsManagerEndpoint.start({ secrets: { 'upstash/state': '{"url":"...","token":"..."}' } });
 * process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = sm.url;
 */
export class SecretsManagerEndpoint {
  readonly #server: Server;
  readonly #secrets = new Map<string, Secret>();
  readonly #arnPrefix: string;

  private constructor(server: Server, arnPrefix: string) {
    this.#server = server;
    this.#arnPrefix = arnPrefix;
  }

  /** Creates the initial secrets and listens. */
  static async start(options: SecretsManagerEndpointOptions = {}): Promise<SecretsManagerEndpoint> {
    const server = createServer({ keepAlive: true });
    const endpoint = new SecretsManagerEndpoint(
      server,
      `arn:aws:secretsmanager:${options.region ?? 'us-east-1'}:${options.account ?? '000000000000'}:secret:`,
    );
    for (const [name, value] of Object.entries(options.secrets ?? {})) endpoint.create(name, value);
    server.on('request', (req, res) => {
      endpoint.#handle(req, res).catch(() => {
        // Deliberately no detail: the body being handled may hold a secret value.
        sendJson(res, 500, { __type: 'InternalServiceError', message: 'internal error' });
      });
    });
    await listen(server, options);
    return endpoint;
  }

  /** Base URL for `AWS_ENDPOINT_URL_SECRETS_MANAGER`. */
  get url(): string {
    return serverUrl(this.#server);
  }

  /** The ARN of a secret, by name or ARN. Throws when it does not exist. */
  arn(nameOrArn: string): string {
    return this.#find(nameOrArn).arn;
  }

  /** Creates a secret in-process (as `CreateSecret`); returns its ARN. */
  create(name: string, value: string): string {
    if (this.#lookup(name))
      throw new AwsError('ResourceExistsException', `The secret ${name} already exists.`);
    if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) {
      throw new AwsError(
        'ValidationException',
        'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
      );
    }
    const now = Date.now();
    const secret: Secret = {
      name,
      arn: `${this.#arnPrefix}${name}-${suffix()}`,
      created: now,
      versions: [{ id: randomUUID(), value, created: now, stages: ['AWSCURRENT'] }],
      fetches: 0,
    };
    this.#secrets.set(name, secret);
    return secret.arn;
  }

  /** Stores a new current value in-process (as `PutSecretValue`); returns the version id. */
  put(nameOrArn: string, value: string, versionId: string = randomUUID()): string {
    const secret = this.#find(nameOrArn);
    const existing = secret.versions.find((v) => v.id === versionId);
    if (existing) {
      // Same ClientRequestToken: idempotent when the value matches, as AWS does.
      if (existing.value !== value) {
        throw new AwsError(
          'ResourceExistsException',
          `You can't modify an existing version, you can only create a new version.`,
        );
      }
      return existing.id;
    }
    for (const version of secret.versions) {
      version.stages = version.stages.filter((s) => s !== 'AWSPREVIOUS');
      if (version.stages.includes('AWSCURRENT'))
        version.stages = [...version.stages.filter((s) => s !== 'AWSCURRENT'), 'AWSPREVIOUS'];
    }
    secret.versions.push({ id: versionId, value, created: Date.now(), stages: ['AWSCURRENT'] });
    // Versions without a stage are deprecated; AWS keeps about 100, a test needs far fewer.
    secret.versions = secret.versions.filter((v) => v.stages.length > 0).slice(-10);
    return versionId;
  }

  /** The current (`AWSCURRENT`) value of a secret, read in-process: not counted as a fetch. */
  value(nameOrArn: string): string | undefined {
    return this.#find(nameOrArn).versions.find((v) => v.stages.includes('AWSCURRENT'))?.value;
  }

  /** How many `GetSecretValue` requests a secret has served (name or ARN). */
  fetches(nameOrArn: string): number {
    return this.#find(nameOrArn).fetches;
  }

  /** All `GetSecretValue` requests served, including those for missing secrets. */
  totalFetches = 0;

  /** Zeroes the request counters. */
  resetCounts(): void {
    this.totalFetches = 0;
    for (const secret of this.#secrets.values()) secret.fetches = 0;
  }

  /** Stops listening and drops keep-alive connections. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #lookup(nameOrArn: string): Secret | undefined {
    if (nameOrArn.startsWith('arn:')) {
      for (const secret of this.#secrets.values()) {
        // A full ARN, or a partial one without the random suffix, as AWS accepts.
        if (secret.arn === nameOrArn || secret.arn.replace(ARN_SUFFIX, '') === nameOrArn) return secret;
      }
      return undefined;
    }
    return this.#secrets.get(nameOrArn);
  }

  #find(nameOrArn: string): Secret {
    const secret = this.#lookup(nameOrArn);
    if (!secret) throw new AwsError('ResourceNotFoundException', NOT_FOUND);
    return secret;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    try {
      if (req.method !== 'POST' || !target.startsWith('secretsmanager.')) {
        throw new AwsError('UnknownOperationException', `Unknown operation ${target || '(none)'}`);
      }
      let input: Record<string, unknown>;
      try {
        input = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        throw new AwsError('SerializationException', 'Request body is not valid JSON');
      }
      sendJson(res, 200, this.#operation(target.slice('secretsmanager.'.length), input));
    } catch (error) {
      if (!(error instanceof AwsError)) throw error;
      sendJson(res, error.status, { __type: error.type, message: error.message }, error.type);
    }
  }

  #operation(operation: string, input: Record<string, unknown>): unknown {
    const secretId = () => {
      const id = input.SecretId;
      if (typeof id !== 'string' || id === '')
        throw new AwsError('InvalidParameterException', 'SecretId is required.');
      return id;
    };
    const secretString = () => {
      const value = input.SecretString;
      if (typeof value !== 'string') {
        throw new AwsError(
          'InvalidRequestException',
          'You must provide either SecretString or SecretBinary.',
        );
      }
      return value;
    };
    const token = typeof input.ClientRequestToken === 'string' ? input.ClientRequestToken : undefined;

    switch (operation) {
      case 'GetSecretValue': {
        this.totalFetches += 1;
        const secret = this.#find(secretId());
        secret.fetches += 1;
        const stage = typeof input.VersionStage === 'string' ? input.VersionStage : undefined;
        const id = typeof input.VersionId === 'string' ? input.VersionId : undefined;
        const version = secret.versions.find((v) =>
          id !== undefined
            ? v.id === id && (stage === undefined || v.stages.includes(stage))
            : v.stages.includes(stage ?? 'AWSCURRENT'),
        );
        if (!version) {
          throw new AwsError(
            'ResourceNotFoundException',
            "Secrets Manager can't find the specified secret value for staging label: " +
              (stage ?? id ?? 'AWSCURRENT'),
          );
        }
        return {
          ARN: secret.arn,
          Name: secret.name,
          VersionId: version.id,
          SecretString: version.value,
          VersionStages: version.stages,
          CreatedDate: epochSeconds(version.created),
        };
      }
      case 'PutSecretValue': {
        const secret = this.#find(secretId());
        const versionId = this.put(secret.arn, secretString(), token);
        return { ARN: secret.arn, Name: secret.name, VersionId: versionId, VersionStages: ['AWSCURRENT'] };
      }
      case 'CreateSecret': {
        const name = input.Name;
        if (typeof name !== 'string') throw new AwsError('InvalidParameterException', 'Name is required.');
        const arn = this.create(name, secretString());
        const secret = this.#find(arn);
        return { ARN: arn, Name: name, VersionId: secret.versions[0]?.id };
      }
      case 'DescribeSecret': {
        const secret = this.#find(secretId());
        return {
          ARN: secret.arn,
          Name: secret.name,
          CreatedDate: epochSeconds(secret.created),
          LastChangedDate: epochSeconds(Math.max(...secret.versions.map((v) => v.created))),
          VersionIdsToStages: Object.fromEntries(secret.versions.map((v) => [v.id, v.stages])),
        };
      }
      case 'ListSecrets':
        return {
          SecretList: [...this.#secrets.values()].map((s) => ({
            ARN: s.arn,
            Name: s.name,
            CreatedDate: epochSeconds(s.created),
          })),
        };
      default:
        throw new AwsError('UnknownOperationException', `Unknown operation secretsmanager.${operation}`);
    }
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  res.end(text);
}
