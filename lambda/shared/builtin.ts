import { createRequire } from 'node:module';

/**
 * A Node built-in module, loaded as CommonJS on first use instead of imported as an ES module.
 * Two reasons, both measured by `npm run bench`: an ES module import loads the module at the
 * bundle's start even when no event needs it, and on Node 22 and later the ES module namespace of
 * `node:http` reads every export, including the getters (`WebSocket`, `MessageEvent`,
 * `CloseEvent`) that load undici: 28 ms of CPU in a fresh Node 24 process.
 *
 * `process.getBuiltinModule` is Node 20.16 and later; older Node 20 requires the module.
 */
export function nodeBuiltin<T>(id: string): T {
  return (process.getBuiltinModule?.(id) ?? createRequire(import.meta.url)(id)) as T;
}
