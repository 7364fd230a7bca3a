import { Worker } from 'node:worker_threads';

/** A TCP proxy on its own thread that delays every answer; see {@link startSlowProxy}. */
export interface SlowProxy {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

// Runs on a worker thread, so it keeps answering while the test's own thread is busy.
const PROXY = `
const { createServer, connect } = require('node:net');
const { parentPort, workerData } = require('node:worker_threads');
const server = createServer((client) => {
  const upstream = connect(workerData.targetPort, '127.0.0.1');
  client.on('data', (d) => upstream.write(d));
  upstream.on('data', (d) => setTimeout(() => client.write(d), workerData.delayMs));
  const end = () => { client.destroy(); upstream.destroy(); };
  client.on('error', end); upstream.on('error', end); client.on('close', end); upstream.on('close', end);
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
`;

/**
 * Forwards 127.0.0.1:<port> to `targetPort`, holding each answer `delayMs` before passing it on.
 * It runs on a worker thread: an answer arrives on time while the calling thread is busy.
 */
export async function startSlowProxy(targetPort: number, delayMs: number): Promise<SlowProxy> {
  const worker = new Worker(PROXY, { eval: true, workerData: { targetPort, delayMs } });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await worker.terminate();
    },
  };
}
