import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** A private `redis-server` started by {@link startRedisServer}. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` (`redis://:<password>@127.0.0.1:<port>` with a password) */
  readonly url: string;
  readonly port: number;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
}

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /**
   * Port to listen on.
   * @default - a free port
   */
  readonly port?: number;
  /**
   * The binary to run.
   * @default 'redis-server' from PATH
   */
  readonly binary?: string;
  /**
   * Require this password (`requirepass`), as a production Redis would.
   * @default - none
   */
  readonly password?: string;
}

const HOW_TO_GET_REDIS =
  'Install it (Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`) or point REDIS_URL at a Redis you own.';

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** Another process holds the port: a free port was taken between the probe and the start. */
class PortTakenError extends Error {}

/**
 * Starts a throwaway `redis-server` that keeps nothing on disk, on a free port, and resolves once
 * it answers PING. The server dies with this process, so nothing is left running. On a busy
 * machine the free port can be taken before the server binds it: then it tries another (twice
 * more) instead of failing, or of talking to whoever took it.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(options.port ?? (await freePort()), options);
    } catch (error) {
      if (!(error instanceof PortTakenError) || options.port !== undefined || attempt >= 3) throw error;
    }
  }
}

async function launch(port: number, options: RedisServerOptions): Promise<RedisServer> {
  const binary = options.binary ?? 'redis-server';
  const child: ChildProcess = spawn(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'yes',
      ...(options.password ? ['--requirepass', options.password] : []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new Error(`redis-server was not found on PATH. ${HOW_TO_GET_REDIS}`)
          : new Error(`could not start redis-server: ${error.message}`),
      ),
    ),
  );
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };

  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : '';
  const url = `redis://${auth}127.0.0.1:${port}`;
  try {
    await Promise.race([spawnError, waitForPing(url, child, exited, () => output)]);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, port, stop };
}

async function waitForPing(
  url: string,
  child: ChildProcess,
  exited: Promise<number | null>,
  output: () => string,
): Promise<void> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  // Generous: a loaded machine can take seconds to start a process.
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (gone) {
      if (/Address already in use/i.test(output())) throw new PortTakenError(output());
      throw new Error(`redis-server exited before it was ready:\n${output()}`);
    }
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      // The answer must come from our server, not from whoever holds the port.
      const pid = Number(/process_id:(\d+)/.exec(String(await probe.info('server')))?.[1]);
      if (pid !== child.pid) throw new PortTakenError(`port taken by process ${pid}`);
      return;
    } catch (error) {
      if (error instanceof PortTakenError) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      probe.disconnect();
    }
  }
  throw new Error(`redis-server did not answer within 30 s:\n${output()}`);
}
