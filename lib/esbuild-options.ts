import type { BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { BuildOptions } from 'esbuild';

/**
 * The esbuild API call equal to the esbuild command `NodejsFunction` runs for `bundling`
 * (aws-cdk-lib's `Bundling`: `--bundle`, `--target` from the runtime, `--platform=node`,
 * `--format`, `--outfile`, `--minify`, `--sourcemap`, `--sources-content`, `--external`,
 * `--define`, `--inject`, `--main-fields`, `--banner`, then `esbuildArgs`), for the places that
 * need a bundle's metafile or a build outside synth: the bench, and the bundle test, which checks
 * that it builds the very bytes `cdk synth` puts in cdk.out.
 *
 * Only the options `UpstashFunction` sets or documents are modelled; any other throws, so a new
 * bundling option cannot make these builds differ from the deployed ones unnoticed.
 */
export function esbuildOptions(
  bundling: BundlingOptions,
  entry: string,
  outfile: string,
  target = 'node24',
): BuildOptions {
  const MODELLED = new Set([
    'format',
    'mainFields',
    'banner',
    'footer',
    'minify',
    'sourceMap',
    'sourceMapMode',
    'sourcesContent',
    'bundleAwsSDK',
    'externalModules',
    'inject',
    'define',
    'keepNames',
    'esbuildArgs',
    'target',
  ]);
  // Not esbuild options: commands run around esbuild, which leave its output as it is.
  const AROUND = new Set(['commandHooks']);
  const unknown = Object.keys(bundling).filter((key) => !MODELLED.has(key) && !AROUND.has(key));
  if (unknown.length > 0) throw new Error(`esbuildOptions does not model bundling.${unknown.join(', ')}`);
  const mode = bundling.sourceMapMode as string | undefined;
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: bundling.target ?? target,
    ...(bundling.format ? { format: bundling.format as 'esm' | 'cjs' } : {}),
    ...(bundling.mainFields ? { mainFields: [...bundling.mainFields] } : {}),
    ...(bundling.banner ? { banner: { js: bundling.banner } } : {}),
    ...(bundling.footer ? { footer: { js: bundling.footer } } : {}),
    minify: bundling.minify ?? false,
    sourcemap:
      (bundling.sourceMapMode ?? bundling.sourceMap)
        ? mode && mode !== 'default'
          ? (mode as 'inline' | 'external' | 'both' | 'linked')
          : true
        : false,
    sourcesContent: bundling.sourcesContent ?? true,
    external: [...(bundling.externalModules ?? (bundling.bundleAwsSDK ? [] : ['@aws-sdk/*']))],
    ...(bundling.inject ? { inject: [...bundling.inject] } : {}),
    ...(bundling.define ? { define: { ...bundling.define } } : {}),
    keepNames: bundling.keepNames ?? false,
    ...esbuildArgsOf(bundling.esbuildArgs ?? {}),
  };
}

function esbuildArgsOf(args: Readonly<Record<string, unknown>>): BuildOptions {
  const options: BuildOptions = {};
  for (const [name, value] of Object.entries(args)) {
    if (name === '--drop-labels' && typeof value === 'string') options.dropLabels = value.split(',');
    else if (name.startsWith('--alias:') && typeof value === 'string')
      options.alias = { ...options.alias, [name.slice('--alias:'.length)]: value };
    else throw new Error(`esbuildOptions does not model esbuildArgs ${name}`);
  }
  return options;
}
