import type { Construct } from 'constructs';
import type { AppConfig } from './config';
import { ApiStack } from './stacks/api-stack';
import { JobsStack } from './stacks/jobs-stack';
import { MonitoringStack } from './stacks/monitoring-stack';
import { SecretsStack } from './stacks/secrets-stack';

/** The stacks of the app, as {@link defineStacks} wires them. */
export interface AppStacks {
  readonly secrets: SecretsStack;
  readonly api: ApiStack;
  readonly jobs: JobsStack;
  readonly monitoring: MonitoringStack;
}

/**
 * Defines the four stacks and passes the secrets, functions and queues between them. Shared by
 * bin/app.ts and the infra tests, so both synthesize the same app.
 *
 * @param prefix prefix of the stack names
 */
export function defineStacks(scope: Construct, config: AppConfig, prefix = 'UpstashState'): AppStacks {
  const secrets = new SecretsStack(scope, `${prefix}Secrets`, {
    config,
    description: 'Upstash credentials and API-key hashes (retained on delete)',
  });
  const api = new ApiStack(scope, `${prefix}Api`, {
    config,
    databases: secrets.databases,
    apiKeys: secrets.apiKeys,
    description: 'HTTP API, authorizer and api function',
  });
  const jobs = new JobsStack(scope, `${prefix}Jobs`, {
    config,
    databases: secrets.databases,
    description: 'Scheduled queue worker and maintenance jobs',
  });
  const functions = [api.apiFunction, ...(api.authorizerFunction ? [api.authorizerFunction] : [])];
  const monitoring = new MonitoringStack(scope, `${prefix}Monitoring`, {
    config,
    api: api.api,
    apiFunction: api.apiFunction,
    functions: [...functions, jobs.queueWorker, jobs.maintenance, jobs.usageProbe],
    deadLetterQueue: jobs.deadLetterQueue,
    description: 'Alarms and dashboard',
  });
  return { secrets, api, jobs, monitoring };
}
