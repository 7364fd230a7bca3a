import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Where a local server listens. */
export interface ListenOptions {
  /**
   * Port to listen on; 0 picks a free one.
   * @default 0
   */
  readonly port?: number;
  /**
   * Interface to listen on.
   * @default '127.0.0.1'
   */
  readonly host?: string;
}

/**
 * Starts `server` listening and resolves once it does; rejects with the listen error (a port in
 * use). Every local server (Upstash endpoint, Secrets Manager endpoint, API gateway) starts so.
 */
export function listen(server: Server, options: ListenOptions = {}): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
}

/** The base URL of a listening server, `http://127.0.0.1:<port>` (IPv6 in brackets), no trailing slash. */
export function serverUrl(server: Server): string {
  const { address, port } = server.address() as AddressInfo;
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}
