import { fork } from 'node:child_process';

/**
 * Runs a worker script in its own OS process (node with tsx's loader), for concurrency claims
 * that must hold across processes, and resolves with the report it sends back (`process.send`).
 * Rejects when the worker exits non-zero or without a report.
 */
export function runWorkerProcess<Report>(script: URL | string, env: Record<string, string>): Promise<Report> {
  return new Promise((resolve, reject) => {
    const child = fork(script, {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ...env },
      stdio: 'inherit',
    });
    let report: Report | undefined;
    child.on('message', (message) => {
      report = message as Report;
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      report !== undefined && code === 0
        ? resolve(report)
        : reject(new Error(`worker ${String(script)} exited with ${code}`)),
    );
  });
}
