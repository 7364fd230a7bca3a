import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What happens to one request through a {@link FaultProxy}:
 * - `pass`: forwarded, and its answer returned;
 * - `lose`: forwarded and run, then the answer is dropped (the socket closes): the outcome is
 *   unknown to the client, as after a reset or a timeout once the server ran it;
 * - `refuse`: dropped before it is forwarded: nothing runs.
 */
export type ProxyFate = 'pass' | 'lose' | 'refuse';

/** An HTTP proxy in front of an Upstash endpoint that decides each request's fate by its body. */
export interface FaultProxy {
  readonly url: string;
  /** Decides the fate of each request from its body (the REST commands as JSON). */
  decide: (body: string) => ProxyFate;
  /** Requests seen, with the fate each got. */
  readonly seen: Array<{ body: string; fate: ProxyFate }>;
  close(): Promise<void>;
}

/**
 * Starts a proxy to `target` (an endpoint's base URL), every request passed until `decide` says
 * otherwise. In-process: the test awaits each call, so the proxy always gets its turn.
 */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const proxy: FaultProxy = {
    url: '',
    decide: () => 'pass',
    seen: [],
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const fate = proxy.decide(body.toString('utf8'));
      proxy.seen.push({ body: body.toString('utf8'), fate });
      if (fate === 'refuse') {
        req.socket.destroy();
        return;
      }
      const forwarded = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
        },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (c: Buffer) => parts.push(c));
          answer.on('end', () => {
            if (fate === 'lose') {
              req.socket.destroy();
              return;
            }
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            res.end(Buffer.concat(parts));
          });
        },
      );
      forwarded.on('error', () => req.socket.destroy());
      forwarded.end(body);
    });
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return Object.assign(proxy, { url: `http://127.0.0.1:${port}` });
}
