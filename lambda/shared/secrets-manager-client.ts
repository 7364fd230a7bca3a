import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * The two parts of `@aws-sdk/client-secrets-manager` the runtime uses, imported by name (the bare
 * client and one command, as AWS recommends for cold starts), so a bundle keeps only those: the
 * aggregated `SecretsManager` class and the other 22 commands are tree-shaken away.
 *
 * `secrets-manager.ts` imports this module on the first secret read. `UpstashFunction`'s bundles
 * inject it instead (esbuild `inject`): the name below, which `secrets-manager.ts` reads as a
 * global, then binds to this export, and the client is part of the bundle's top-level code.
 */
export const UPSTASH_SECRETS_MANAGER_SDK = { GetSecretValueCommand, SecretsManagerClient };
