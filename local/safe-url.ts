/**
 * A Redis URL as the local stack and its CLIs may print it: scheme, host, port and database, with
 * no user and no password (`rediss://admin:pw@old.example:6380/2` -> `rediss://old.example:6380/2`).
 * Anything that is not a URL prints as `<invalid URL>`, since the text itself may hold a password.
 */
export function safeUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '<invalid URL>';
  }
  return `${u.protocol}//${u.hostname}:${u.port || '6379'}${u.pathname === '/' ? '' : u.pathname}`;
}
