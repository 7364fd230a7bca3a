import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * The local console and the rest of `local/` are dev tooling: no Lambda handler may import them,
 * so no bundle the stacks deploy carries them. Each handler entry is bundled as the constructs
 * bundle it (its imports followed, packages left aside) and its inputs are listed.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const entries = readdirSync(`${root}lambda/handlers`).filter((name) => name.endsWith('.ts'));

describe('Lambda bundles leave the local tooling out', () => {
  it.each(entries)('%s imports nothing under local/', async (entry) => {
    const result = await build({
      entryPoints: [`lambda/handlers/${entry}`],
      absWorkingDir: root,
      bundle: true,
      write: false,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs).toContain(`lambda/handlers/${entry}`);
    expect(inputs.filter((path) => path.startsWith('local/'))).toEqual([]);
  });
});
