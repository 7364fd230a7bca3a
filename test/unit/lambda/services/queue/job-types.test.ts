import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  BUILTIN_JOB_TYPES,
  defineJobType,
  INVALIDATE_PREFIX,
  JobTypes,
  MIGRATION_COPY_JOB,
  REVOKE_USER_SESSIONS,
} from '../../../../../lambda/services/queue/job-types';
import { ForbiddenError, ValidationError } from '../../../../../lambda/shared/errors';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../..');

/**
 * Every source file `entry` loads through relative imports (static and dynamic), repo-relative.
 * Type-only imports are left out: they vanish from the bundle.
 */
function moduleGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const queue = [resolve(ROOT, entry)];
  const fileOf = (spec: string): string => (existsSync(`${spec}.ts`) ? `${spec}.ts` : join(spec, 'index.ts'));
  while (queue.length > 0) {
    const file = queue.pop() as string;
    const rel = relative(ROOT, file);
    if (seen.has(rel)) continue;
    seen.add(rel);
    const text = readFileSync(file, 'utf8');
    const statics = text.matchAll(/(?:^|\n)\s*(?:import|export)(\s+type)?\b[^;]*?from\s+'(\.{1,2}\/[^']+)'/g);
    for (const [, typeOnly, spec] of statics) {
      if (!typeOnly) queue.push(fileOf(join(dirname(file), spec as string)));
    }
    for (const [, spec] of text.matchAll(/import\(\s*'(\.{1,2}\/[^']+)'\s*\)/g)) {
      queue.push(fileOf(join(dirname(file), spec as string)));
    }
  }
  return seen;
}

describe('job types', () => {
  const EMAIL = defineJobType({
    type: 'email.send',
    scope: 'jobs',
    summary: 'sends an email',
    payload: (p) => {
      if (typeof p !== 'string') throw new ValidationError('payload must be an address');
      return p;
    },
  });

  it('lists the known types in an unknown type refusal, operators types left out', () => {
    expect(() => BUILTIN_JOB_TYPES.authorize('report.build', ['*'], {})).toThrow(
      `unknown job type "report.build"; known types: ${INVALIDATE_PREFIX}, ${REVOKE_USER_SESSIONS}`,
    );
  });

  it('refuses operator types and unknown ones in their namespace as forbidden, whatever the scopes', () => {
    expect(() => BUILTIN_JOB_TYPES.authorize(MIGRATION_COPY_JOB.type, ['*'], { database: 'x' })).toThrow(
      ForbiddenError,
    );
    expect(() => BUILTIN_JOB_TYPES.authorize('migration.other', ['*'], {})).toThrow(ForbiddenError);
  });

  it("requires the type's scope, and validates the payload only once allowed", () => {
    expect(() => BUILTIN_JOB_TYPES.authorize(INVALIDATE_PREFIX, ['jobs'], null)).toThrow(
      /needs the "cache:write" scope/,
    );
    expect(() => BUILTIN_JOB_TYPES.authorize(INVALIDATE_PREFIX, ['cache:write'], null)).toThrow(
      ValidationError,
    );
    expect(BUILTIN_JOB_TYPES.authorize(INVALIDATE_PREFIX, ['cache:write'], { prefix: 'a:' }).payload).toEqual(
      {
        prefix: 'a:',
      },
    );
  });

  it('takes an app its own types, without editing the built-ins; a type defined twice is an error', () => {
    const types = BUILTIN_JOB_TYPES.with(EMAIL);
    expect(types.authorize('email.send', ['jobs'], 'a@example.com').payload).toBe('a@example.com');
    expect(BUILTIN_JOB_TYPES.get('email.send')).toBeUndefined();
    expect(() => types.with(EMAIL)).toThrow(/defined twice/);
    expect(() => new JobTypes([EMAIL, EMAIL])).toThrow(/defined twice/);
    expect(() => defineJobType({ ...EMAIL, type: 'bad type!' })).toThrow(ValidationError);
  });

  it('is what docs/jobs.md lists, type by type, with the same scopes', () => {
    const docs = readFileSync(join(ROOT, 'docs/jobs.md'), 'utf8');
    const rows = [...docs.matchAll(/^\| `([a-z]+\.[a-z-]+)`\s*\|\s*([^|]+?)\s*\|/gm)].map(
      ([, type, scope]) => [
        type,
        (scope as string).startsWith('none') ? 'operator' : (scope as string).replace(/`/g, ''),
      ],
    );
    expect(rows).toEqual(BUILTIN_JOB_TYPES.list().map((t) => [t.type, t.scope]));
  });

  it('lets the api function check jobs without loading any job handler', () => {
    const api = moduleGraph('lambda/handlers/api.ts');
    expect(api).toContain('lambda/services/queue/job-types.ts');
    // The app's own types come with their definitions only, never their handlers.
    expect(api).toContain('lambda/jobs/types.ts');
    for (const handlerCode of [
      'lambda/jobs/handlers.ts',
      'lambda/services/queue/builtin-jobs.ts',
      'lambda/services/queue/registry.ts',
      'lambda/services/queue/drain.ts',
      'lambda/services/migration/copy-job.ts',
      'lambda/services/migration/copy.ts',
    ]) {
      expect(api, handlerCode).not.toContain(handlerCode);
    }
    // The worker does load them, bound to the same definitions.
    expect(moduleGraph('lambda/handlers/queue-worker.ts')).toContain('lambda/services/queue/builtin-jobs.ts');
    expect(moduleGraph('lambda/handlers/queue-worker.ts')).toContain('lambda/jobs/handlers.ts');
  });
});
