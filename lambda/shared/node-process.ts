/**
 * `node:process` inside the Lambda bundles: the global `process`, and its values under the names
 * the bundled code imports (the AWS SDK's user-agent code imports `env` and `versions`).
 *
 * Why: Node builds the ES module namespace of a built-in from every property of its exports, and
 * reading each property of `process` runs its lazy getters (`process.report` loads the diagnostic
 * report code, and so on). Measured in fresh processes, a bundled Secrets Manager client's first
 * call took 74.4 ms of CPU with that import and 71.7 ms without (median of 25 each, interleaved);
 * Node 24 pays it too. The global is the same object without that cost.
 *
 * `UpstashFunction` aliases `node:process` to this module (esbuild `--alias`). A name the bundle
 * imports from `node:process` that is missing here fails the build, never the function.
 */
export const env: NodeJS.ProcessEnv = process.env;
export const versions: NodeJS.ProcessVersions = process.versions;
export default process;
