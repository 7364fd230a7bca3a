/**
 * `npm run build` (and `prepack`): the package in dist/, JavaScript and declarations, laid out as
 * the sources are (dist/lib, dist/lambda, dist/local), for the entry points of package.json's
 * `exports` and `bin` (listed in tsconfig.build.json) and what they import.
 *
 * TypeScript 7 (the native compiler) emits both: declarations included. The sources import each
 * other without extensions (bundler resolution, what esbuild, tsx and vitest read), which plain
 * Node's ESM loader and `moduleResolution: node16` cannot resolve; so, after tsc, every relative
 * specifier in the output gets the file it resolves to (`./errors` -> `./errors.js`, `./lock` ->
 * `./lock/index.js`), checked against the emitted files: one that resolves to nothing fails the
 * build. (Rewriting every import of the sources to `.js` would do the same at the cost of
 * touching every file; bundling the declarations needs tools on the old compiler API.)
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');

rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
});
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });

// `from '…'`, `import '…'`, `import('…')` with a relative specifier; tsc's output has no others.
// Lines of comments are left alone (an @example may show an import of the reader's own file).
const COMMENT = /^\s*(\*|\/\*|\/\/)/;
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.\.?\/[^'"]*)\2/g;

let rewritten = 0;
for (const file of files(dist)) {
  const declaration = file.endsWith('.d.ts');
  if (!declaration && !file.endsWith('.js')) continue;
  const ext = declaration ? '.d.ts' : '.js';
  const text = readFileSync(file, 'utf8');
  const resolve = (_match: string, lead: string, quote: string, spec: string): string => {
    const base = join(dirname(file), spec);
    let resolved: string;
    if (existsSync(`${base}${ext}`)) resolved = `${spec}.js`;
    else if (existsSync(join(base, `index${ext}`))) resolved = `${spec}/index.js`;
    else throw new Error(`${relative(root, file)}: "${spec}" resolves to no emitted file`);
    rewritten += 1;
    return `${lead}${quote}${resolved}${quote}`;
  };
  const out = text
    .split('\n')
    .map((line) => (COMMENT.test(line) ? line : line.replace(SPECIFIER, resolve)))
    .join('\n');
  if (out !== text) writeFileSync(file, out);
}

chmodSync(join(dist, 'local', 'upstash-cli.js'), 0o755);
console.log(`dist/: ${files(dist).length} files, ${rewritten} relative specifiers resolved`);
