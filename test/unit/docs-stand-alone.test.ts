import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * The repository's docs and code comments stand alone: none points at design notes outside the
 * repository (`../shared/...`, a DESIGN.md, its § numbers), which a user of the repository does not
 * have.
 */
describe('docs and comments', () => {
  const files = execFileSync('git', ['ls-files', '*.md', '*.ts', '*.json'], { encoding: 'utf8' })
    .split('\n')
    .filter((file) => file !== '' && file !== 'package-lock.json')
    // This file names what it looks for.
    .filter((file) => file !== 'test/unit/docs-stand-alone.test.ts');
  const outside = /\.\.\/shared\/[A-Z]|\/work\/shared|DESIGN(\.md)?\b|§\s?\d/;

  it('point at nothing outside the repository', () => {
    const hits = files.flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .map((line, i) => ({ where: `${file}:${i + 1}`, line }))
        .filter(({ line }) => outside.test(line))
        .map(({ where, line }) => `${where}: ${line.trim()}`),
    );
    expect(files.length).toBeGreaterThan(50);
    expect(hits).toEqual([]);
  });
});
