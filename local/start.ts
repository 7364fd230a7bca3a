/**
 * `npm start [-- --port 3000]`: the whole stack on this machine, with no AWS or Upstash account.
 * Starts a private redis-server (or uses REDIS_URL), the local Upstash and Secrets Manager
 * endpoints, serves the real handlers through the local API gateway with the scheduled jobs on
 * their rates, and the console on a port of its own. The terminal gets one short line per
 * request; the handlers' JSON logs go to the console (and with --verbose or --log-file, to the
 * terminal or a file). Ctrl-C, SIGTERM and SIGHUP (the terminal closed) stop everything it started.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../lib/config';
import { type LocalApp, startLocalApp } from './app';
import { banner } from './banner';
import { cliError, flagError, portInUse } from './cli-errors';
import { type LocalConsole, startConsole } from './console';
import { tapOutput } from './output-tap';
import { followApp } from './request-feed';
import { untagged } from './request-tags';
import { removeStackFile, stackFilePath, writeStackFile } from './stack-file';
import { errorMessage, shortLine } from './terminal';

const USAGE = `Usage: npm start [-- --port 3000] [--tenant dev] [--no-scheduler] [--watch]
                 [--console-port <n>] [--no-console] [--verbose] [--log-file <path>]
  --port          port of the HTTP API (default 3000, or PORT; 0 picks a free one)
  --console-port  port of the console (default: the API's port + 1, or a free one)
  --no-console    no console
  --watch         rebuild and reload the handlers when lambda/ changes (data and keys stay)
  --verbose       the handlers' full JSON logs in the terminal (default: one line per request)
  --log-file      append the handlers' full JSON logs to this file
  --no-scheduler  no scheduled runs (run them from the console or npm run invoke)
  REDIS_URL       use this Redis instead of starting a private redis-server (never flushed)
Keys while it runs: b prints the banner again, v turns the full logs on or off, q quits.`;

let values: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      port: { type: 'string' },
      'console-port': { type: 'string' },
      tenant: { type: 'string', default: 'dev' },
      'no-scheduler': { type: 'boolean', default: false },
      'no-console': { type: 'boolean', default: false },
      watch: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      'log-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }).values;
}
try {
  values = parse();
} catch (error) {
  cliError('npm start', flagError(error, 'npm start -- --help lists them'), 2);
}

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const portOf = (text: string | undefined, flag: string): number | undefined => {
  if (text === undefined) return undefined;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65_535) {
    cliError('npm start', `${flag} must be a port number from 0 to 65535, got ${JSON.stringify(text)}`, 2);
  }
  return port;
};
const port = portOf(values.port ?? process.env.PORT, values.port === undefined ? 'PORT' : '--port') ?? 3000;
const consolePort = portOf(values['console-port'], '--console-port');

let stack: LocalApp | undefined;
let localConsole: LocalConsole | undefined;
let stopping = false;
let verbose = values.verbose;
const stackFile = stackFilePath();
const cleanups: Array<() => void> = [];

// A closed terminal takes stdout and stderr with it: a failed write must not end the process
// before it has stopped its redis-server.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping the local stack...`);
  removeStackFile(stackFile, { ifPid: process.pid });
  for (const cleanup of cleanups) cleanup();
  await localConsole?.stop();
  await stack?.stop();
  console.log('stopped; nothing left running.');
  process.exit(0);
}
// Ctrl-C, `kill`, and the terminal closing: all three stop the same way.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.on(signal, () => void shutdown(signal));
// Any other way out (a crash) still leaves no stale file; the redis-server dies with the process.
process.on('exit', () => removeStackFile(stackFile, { ifPid: process.pid }));

try {
  stack = await startLocalApp({
    port,
    tenant: values.tenant,
    scheduler: !values['no-scheduler'],
    ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}),
    ...(values.watch
      ? {
          watch: {
            onReload: (reload) =>
              console.log(
                reload.ok
                  ? `reloaded the handlers (build ${reload.build}, ${reload.ms} ms): data and keys kept`
                  : `reload failed, still serving build ${reload.build}: ${reload.error}`,
              ),
          },
        }
      : {}),
  });
} catch (error) {
  // A configuration problem: each on its line, with its full path (lib/config.ts).
  if (error instanceof ConfigError) {
    process.stderr.write(
      error.problems.map((line) => `npm start: invalid configuration: ${line}\n`).join(''),
    );
    process.exit(1);
  }
  const message =
    (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
      ? portInUse(port, '--port')
      : (error as Error).message;
  cliError('npm start', `could not start the local stack: ${message}`, 1);
}

const app = stack;
const { feed, stop: unfollow } = followApp(app);
cleanups.push(unfollow);

// The handlers' JSON lines: to the console always, to a file with --log-file, to the terminal
// only with --verbose (v toggles it).
let logFile: WriteStream | undefined;
if (values['log-file']) {
  logFile = createWriteStream(values['log-file'], { flags: 'a', mode: 0o600 });
  logFile.on('error', (error) =>
    console.error(`npm start: cannot write ${values['log-file']}: ${error.message}`),
  );
}
cleanups.push(
  tapOutput({
    onLine: (line) => logFile?.write(`${line.text}\n`),
    show: () => verbose,
  }),
);
cleanups.push(
  feed.subscribe((event) => {
    if (event.type !== 'request' || verbose) return;
    const lines = [shortLine(event.record)];
    for (const line of feed.lines(event.record.id) ?? []) {
      const error = errorMessage(line);
      if (error) lines.push(`  error: ${error}`);
    }
    // Written as the stack's own line, not as one of the request's.
    untagged(() => process.stdout.write(`${lines.join('\n')}\n`));
  }),
);

if (!values['no-console']) {
  // The default port is the API's + 1 when free; a port asked for must be free.
  const wanted = consolePort ?? (port === 0 ? 0 : port + 1);
  try {
    localConsole = await startConsole(app, { feed, port: wanted });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    if (consolePort !== undefined) {
      await app.stop();
      cliError('npm start', portInUse(consolePort, '--console-port'), 1);
    }
    localConsole = await startConsole(app, { feed, port: 0 });
  }
}

writeStackFile(
  {
    pid: process.pid,
    url: app.url,
    upstashUrl: app.upstashUrl,
    secretsUrl: app.secretsUrl,
    env: app.env,
    ...(localConsole ? { consoleUrl: localConsole.url } : {}),
  },
  stackFile,
);

const keys = process.stdin.isTTY === true;
const printBanner = () =>
  console.log(
    banner(app, {
      ...(localConsole ? { consoleUrl: localConsole.url } : {}),
      scheduler: !values['no-scheduler'],
      watch: values.watch,
      logs: `${verbose ? 'in this terminal (--verbose)' : 'one line per request here; full JSON lines in the console'}${values['log-file'] ? ` and in ${values['log-file']}` : ''}`,
      keys,
    }),
  );
printBanner();
process.on('SIGUSR2', printBanner);

if (keys) {
  process.stdin.setRawMode(true);
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (key: string) => {
    if (key === 'b') printBanner();
    else if (key === 'v') {
      verbose = !verbose;
      console.log(
        verbose ? 'full JSON logs on (v turns them off)' : 'one line per request (v shows the full logs)',
      );
    } else if (key === 'q' || key === '\u0003') void shutdown('SIGINT');
  });
}
