/**
 * What the Lambda runtime says about the process through its environment.
 */

/**
 * Whether this process runs in the Lambda runtime: its runtime API's address
 * (`AWS_LAMBDA_RUNTIME_API`) is set in real Lambda and in AWS's runtime interface emulator, never
 * in the local stack, tests or a server of a package user.
 */
export function inLambdaRuntime(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.AWS_LAMBDA_RUNTIME_API !== undefined;
}

/**
 * Whether this process serves one invocation at a time: true in the Lambda runtime, unless it
 * runs on Lambda Managed Instances, where `AWS_LAMBDA_MAX_CONCURRENCY` is set and invocations
 * share a process. The same rule as AWS's own per-invocation store in the Node runtime
 * (`@aws/lambda-invoke-store`).
 */
export function oneInvocationAtATime(env: NodeJS.ProcessEnv = process.env): boolean {
  return inLambdaRuntime(env) && env.AWS_LAMBDA_MAX_CONCURRENCY === undefined;
}
