import { type FSWatcher, mkdirSync, rmSync, watch } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Message } from 'esbuild';
import { FUNCTIONS, type FunctionKey, type HandlerSet, type LoadedHandlers } from './handlers';
import type { LocalHandler } from './lambda-runtime';

/**
 * `npm start -- --watch`: the handlers rebuilt and reloaded when their sources change, in this
 * process, while Redis, the endpoints, the secrets and the API keys stay as they are.
 *
 * Why bundles: Node's module cache keeps a module for the life of the process, and a fresh import
 * of a handler with a cache-busting query would re-run that file alone, not the services it
 * imports. esbuild bundles each handler's own code (the project's sources under `lambda/`; the
 * packages in node_modules stay imports, loaded once) into a new file per build, so importing it
 * runs every changed line, as a new Lambda container would. A reload is a cold start of every
 * function; a build that fails keeps the last one serving and says why in one line.
 */

/** Options of {@link HandlerWatcher.start}. */
export interface WatchOptions {
  /**
   * The directory whose `lambda/` holds the sources (a copy of them, in tests).
   * @default the repository
   */
  readonly root?: string;
  /**
   * Where builds are written: inside the repository, so that their imports of packages resolve to
   * its node_modules. Each build gets a folder of its own, removed once loaded.
   * @default `<repository>/.local/watch`
   */
  readonly outDir?: string;
  /** Called after each reload, and after each failed one. */
  readonly onReload?: (reload: Reload) => void;
  /**
   * Quiet time after a change before rebuilding (an editor writes a file in several steps).
   * @default 100
   */
  readonly debounceMs?: number;
}

/** What a reload did. */
export interface Reload {
  readonly ok: boolean;
  /** Builds loaded so far, the first one included. */
  readonly build: number;
  /** Build and load, in ms. */
  readonly ms: number;
  /** Why it failed: one line (`lambda/handlers/api.ts:12:3: Expected ";" but found "x"`). */
  readonly error?: string;
}

const REPOSITORY = fileURLToPath(new URL('..', import.meta.url));

/** esbuild's first error as one line, with its place. */
function firstError(errors: readonly Message[]): string {
  const error = errors[0];
  if (!error) return 'the build failed';
  const at = error.location ? `${error.location.file}:${error.location.line}:${error.location.column}: ` : '';
  return `${at}${error.text}`;
}

/** Builds the handlers of `root/lambda/handlers` into `dir` and imports them. */
async function buildHandlers(root: string, dir: string): Promise<LoadedHandlers> {
  const entryPoints = Object.fromEntries(
    Object.values(FUNCTIONS).map((file) => [file, join(root, 'lambda', 'handlers', `${file}.ts`)]),
  );
  await build({
    entryPoints,
    outdir: dir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    logLevel: 'silent',
    absWorkingDir: root,
  });
  const loaded: Partial<Record<FunctionKey, LocalHandler>> = {};
  let resetApi = () => {};
  for (const [key, file] of Object.entries(FUNCTIONS) as Array<[FunctionKey, string]>) {
    const module = (await import(pathToFileURL(join(dir, `${file}.mjs`)).href)) as {
      handler: LocalHandler;
      resetApiForTests?: () => void;
    };
    loaded[key] = module.handler;
    if (key === 'api' && module.resetApiForTests) resetApi = module.resetApiForTests;
  }
  return { handlers: loaded as HandlerSet, resetApi };
}

/** Rebuilds the handlers on every change of their sources; see the module's comment. */
export class HandlerWatcher {
  readonly #options: WatchOptions;
  readonly #root: string;
  readonly #outDir: string;
  readonly #swap: (handlers: LoadedHandlers) => void;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #building: Promise<void> | undefined;
  #again = false;
  #builds = 0;

  private constructor(options: WatchOptions, swap: (handlers: LoadedHandlers) => void) {
    this.#options = options;
    this.#root = options.root ?? REPOSITORY;
    this.#outDir = options.outDir ?? join(REPOSITORY, '.local', 'watch');
    this.#swap = swap;
  }

  /**
   * Builds the handlers once (rejecting with the reason when that fails) and watches their
   * sources; `swap` gets each new set.
   */
  static async start(
    options: WatchOptions,
    swap: (handlers: LoadedHandlers) => void,
  ): Promise<HandlerWatcher> {
    const watcher = new HandlerWatcher(options, swap);
    const first = await watcher.#load();
    if (!first.ok) throw new Error(`cannot build the handlers: ${first.error}`);
    watcher.#watcher = watch(join(watcher.#root, 'lambda'), { recursive: true }, () => watcher.#changed());
    watcher.#watcher.on('error', () => {});
    return watcher;
  }

  /** Builds loaded so far. */
  get builds(): number {
    return this.#builds;
  }

  /** Stops watching; waits for a build in progress. */
  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#building;
  }

  #changed(): void {
    if (!this.#watcher) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#rebuild(), this.#options.debounceMs ?? 100);
  }

  #rebuild(): void {
    if (this.#building) {
      this.#again = true;
      return;
    }
    this.#building = this.#load()
      .then((reload) => this.#options.onReload?.(reload))
      .finally(() => {
        this.#building = undefined;
        if (this.#again && this.#watcher) {
          this.#again = false;
          this.#rebuild();
        }
      });
  }

  async #load(): Promise<Reload> {
    const started = performance.now();
    const dir = join(this.#outDir, `${process.pid}-${this.#builds + 1}-${Date.now()}`);
    mkdirSync(dir, { recursive: true });
    try {
      const handlers = await buildHandlers(this.#root, dir);
      this.#builds += 1;
      this.#swap(handlers);
      return { ok: true, build: this.#builds, ms: Math.round(performance.now() - started) };
    } catch (error) {
      const errors = (error as { errors?: Message[] }).errors;
      const reason = errors ? firstError(errors) : (error as Error).message.split('\n')[0];
      return { ok: false, build: this.#builds, ms: Math.round(performance.now() - started), error: reason };
    } finally {
      // Loaded modules live in memory: the files are not needed any more.
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
