import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/**
 * The page's files, served from memory: the HTML and the style sheet as they are in ./web, and
 * its script bundled from ./web/main.ts by esbuild when the console starts (tens of ms). Nothing
 * is fetched from anywhere else: the page's Content-Security-Policy allows its own origin only.
 */
export interface ConsoleAssets {
  readonly 'index.html': string;
  readonly 'console.css': string;
  readonly 'console.js': string;
}

const web = (name: string): string => fileURLToPath(new URL(`./web/${name}`, import.meta.url));

/** Reads and bundles the page's files. */
export async function loadAssets(): Promise<ConsoleAssets> {
  const bundled = await build({
    entryPoints: [web('main.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    minify: false,
    logLevel: 'silent',
  });
  return {
    'index.html': readFileSync(web('index.html'), 'utf8'),
    'console.css': readFileSync(web('console.css'), 'utf8'),
    'console.js': bundled.outputFiles[0]?.text ?? '',
  };
}
