import { connect, createServer, type Socket } from 'node:net';

/** A TCP server that accepts connections and never answers: a stalled endpoint. */
export interface StalledServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** HTTP requests received so far (request lines seen), answered or not. */
  readonly requests: number;
  /** Stops listening and destroys the open connections. */
  close(): Promise<void>;
}

/**
 * Listens on `port` (default: a free one), accepts every connection and reads nothing back:
 * requests hang until the client gives up, like a stalled Upstash or a black-holed route.
 */
export async function startStalledServer(port = 0): Promise<StalledServer> {
  const sockets = new Set<Socket>();
  let connections = 0;
  let requests = 0;
  const server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => {
      requests +=
        chunk.toString('latin1').match(/^(GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH) \S+ HTTP\/1\.[01]\r$/gm)
          ?.length ?? 0;
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    get connections() {
      return connections;
    },
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
