import type { LocalHandler } from './lambda-runtime';

/**
 * The functions of the stack, as the local gateway and scheduler call them, and how they are
 * loaded: from the sources in this process (`npm start`), or rebuilt into bundles on every change
 * (`npm start -- --watch`, ./watch.ts). Both give a {@link HandlerSet}; the stack calls through a
 * {@link SwappableHandlers} so a reload swaps them between two requests.
 */

/** The stack's functions, by the name `LocalApp.handlers` uses. */
export const FUNCTIONS = {
  api: 'api',
  authorizer: 'authorizer',
  queueWorker: 'queue-worker',
  maintenance: 'maintenance',
  usageProbe: 'usage-probe',
} as const;

/** A function of the stack. */
export type FunctionKey = keyof typeof FUNCTIONS;

/** One handler per function. */
export type HandlerSet = Readonly<Record<FunctionKey, LocalHandler>>;

/** A loaded set of handlers, and how to make its api function forget its services. */
export interface LoadedHandlers {
  readonly handlers: HandlerSet;
  /**
   * The api function forgets its services (its rate limiters' memory of blocked identifiers with
   * them), as a new container would; its clients and credentials stay.
   */
  readonly resetApi: () => void;
}

/**
 * The handlers imported from the sources, and the cold start that makes them forget clients,
 * credentials and key sets of an earlier stack in this process (a new container would have none).
 */
export async function importHandlers(): Promise<LoadedHandlers & { coldStart(): Promise<void> }> {
  const [api, authorizer, queueWorker, maintenance, usageProbe, runtime] = await Promise.all([
    import('../lambda/handlers/api'),
    import('../lambda/handlers/authorizer'),
    import('../lambda/handlers/queue-worker'),
    import('../lambda/handlers/maintenance'),
    import('../lambda/handlers/usage-probe'),
    import('../lambda/shared/runtime'),
  ]);
  return {
    handlers: {
      api: api.handler as LocalHandler,
      authorizer: authorizer.handler as LocalHandler,
      queueWorker: queueWorker.handler as LocalHandler,
      maintenance: maintenance.handler as LocalHandler,
      usageProbe: usageProbe.handler as LocalHandler,
    },
    resetApi: () => api.resetApiForTests(),
    async coldStart() {
      api.resetApiForTests();
      authorizer.resetAuthorizerForTests();
      queueWorker.resetQueueWorkerForTests();
      maintenance.resetMaintenanceForTests();
      await runtime.resetRuntimeForTests();
    },
  };
}

/** Handlers that call whichever set is current: {@link SwappableHandlers.swap} replaces it. */
export class SwappableHandlers {
  #current: LoadedHandlers;
  /** Stable functions that call the current set's handler of the same name. */
  readonly calls: HandlerSet;

  constructor(initial: LoadedHandlers) {
    this.#current = initial;
    const call =
      (name: FunctionKey): LocalHandler =>
      (event, context) =>
        this.#current.handlers[name](event, context);
    this.calls = {
      api: call('api'),
      authorizer: call('authorizer'),
      queueWorker: call('queueWorker'),
      maintenance: call('maintenance'),
      usageProbe: call('usageProbe'),
    };
  }

  /** Requests from now on go to `next`; those running finish on the set they started with. */
  swap(next: LoadedHandlers): void {
    this.#current = next;
  }

  /** The current api function forgets its services ({@link LoadedHandlers.resetApi}). */
  resetApi(): void {
    this.#current.resetApi();
  }
}
