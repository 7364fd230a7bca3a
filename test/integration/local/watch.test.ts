import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type LocalApp, startLocalApp } from '../../../local/app';
import type { Reload } from '../../../local/watch';
import { send } from '../../helpers/http-client';
import { randomPrefix } from '../../helpers/redis';

/**
 * Watch mode (`npm start -- --watch`) on a copy of the sources in a temporary folder, so the test
 * never edits tracked files: a change to a module the handlers import (not only to a handler
 * file) answers differently without a restart, while the data, the API key and the endpoints
 * stay; a change that does not build leaves the last build serving and says why in one line.
 */
describe('watch mode', () => {
  const repository = fileURLToPath(new URL('../../..', import.meta.url));
  let root: string;
  let app: LocalApp;
  const reloads: Reload[] = [];
  let waiting: ((reload: Reload) => void) | undefined;
  const nextReload = () => new Promise<Reload>((resolve) => (waiting = resolve));

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'watch-'));
    cpSync(join(repository, 'lambda'), join(root, 'lambda'), { recursive: true });
    app = await startLocalApp({
      port: 0,
      redisUrl: inject('redisUrl'),
      keyPrefix: randomPrefix(),
      scheduler: false,
      watch: {
        root,
        onReload: (reload) => {
          reloads.push(reload);
          waiting?.(reload);
        },
      },
    });
  }, 60_000);

  afterAll(async () => {
    await app?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const call = (method: string, path: string, body?: unknown) =>
    send(`${app.url}${path}`, {
      method,
      headers: { 'x-api-key': app.apiKey, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it('serves a changed module without a restart, with the data and the keys kept', async () => {
    expect(app.watcher?.builds).toBe(1);
    expect((await call('PUT', '/cache/kept', { v: 1 })).status).toBe(200);
    const before = await call('GET', '/nope');
    expect(before.json()).toMatchObject({ error: { message: 'no route for GET /nope' } });

    // A module the api function imports, three levels from its entry.
    const http = join(root, 'lambda', 'shared', 'http.ts');
    const reloaded = nextReload();
    writeFileSync(http, readFileSync(http, 'utf8').replace('`no route for ', '`nothing at '));
    expect(await reloaded).toMatchObject({ ok: true, build: 2 });

    const after = await call('GET', '/nope');
    expect(after.json()).toMatchObject({ error: { message: 'nothing at GET /nope' } });
    // The same key still works, and the value written before the reload is still there.
    expect((await call('GET', '/cache/kept')).json()).toEqual({ key: 'kept', value: { v: 1 } });
    expect(app.watcher?.builds).toBe(2);
  });

  it('keeps the last build serving when a change does not build, and says where in one line', async () => {
    const api = join(root, 'lambda', 'handlers', 'api.ts');
    const failed = nextReload();
    writeFileSync(api, `${readFileSync(api, 'utf8')}\nexport const broken = ;\n`);
    const reload = await failed;
    expect(reload.ok).toBe(false);
    expect(reload.error).toMatch(/^lambda\/handlers\/api\.ts:\d+:\d+: Unexpected ";"$/);
    expect((await call('GET', '/nope')).json()).toMatchObject({ error: { message: 'nothing at GET /nope' } });
    expect(app.watcher?.builds).toBe(2);
  });
});
