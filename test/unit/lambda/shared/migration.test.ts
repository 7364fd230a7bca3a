import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fnv1a, keyPattern, rolloutBucket } from '../../../../lambda/shared/migration';

/**
 * The rollout's hash: the same key lands on the same side in every container, so it must not
 * depend on the process (no seeded hashes, no Math.random).
 */
describe('rollout hash', () => {
  it('is 32-bit FNV-1a (the published test vectors)', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
  });

  it('puts each key in the same bucket in another process', () => {
    const keys = Array.from({ length: 2_000 }, (_, i) => `app:cache:t${i % 13}:item-${i}`);
    const module = fileURLToPath(new URL('../../../../lambda/shared/migration.ts', import.meta.url));
    const tsx = fileURLToPath(new URL('../../../../node_modules/.bin/tsx', import.meta.url));
    const script = `import('${module}').then((m) => {
      const keys = JSON.parse(process.argv[1]);
      process.stdout.write(JSON.stringify(keys.map((k) => [m.rolloutBucket(k), m.rolloutBucket(k, 'tenant')])));
    });`;
    const other = JSON.parse(execFileSync(tsx, ['-e', script, JSON.stringify(keys)], { encoding: 'utf8' }));
    expect(other).toEqual(keys.map((k) => [rolloutBucket(k), rolloutBucket(k, 'tenant')]));
  });

  it('names a key by its pattern only', () => {
    expect(keyPattern('app:cache:acme:v:secret-id')).toBe('app:cache:acme:*');
    expect(keyPattern('loose-key')).toBe('*');
  });
});
