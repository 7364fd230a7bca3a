import { request } from 'node:http';

/** A response as the tests read it. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
  json<T = unknown>(): T;
}

/** A request sent with {@link send} and what came back: the e2e suite checks each against the OpenAPI document. */
export interface Exchange {
  readonly method: string;
  readonly url: string;
  readonly response: RawResponse;
}

/** Every exchange of this test file's {@link send} calls, in order. */
export const exchanges: Exchange[] = [];

/**
 * One HTTP request with node:http: unlike fetch it sends any method with a body (a GET with a
 * body is one of the bad requests under test) and any header size. Times out after `timeoutMs`.
 */
export function send(
  url: string,
  options: { method: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers = { ...options.headers };
    // Node's client sends a GET body with neither length nor chunking; say how long it is.
    if (options.body !== undefined) headers['content-length'] = String(Buffer.byteLength(options.body));
    const req = request(
      url,
      { method: options.method, headers, timeout: options.timeoutMs ?? 15_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const response: RawResponse = {
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json: <T>() => JSON.parse(text) as T,
          };
          exchanges.push({ method: options.method.toUpperCase(), url, response });
          resolve(response);
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs ?? 15_000} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * A JSON call to the API at `baseUrl()` (read per call: the stack starts in a hook): `key` as
 * `x-api-key` when given, `body` as JSON when given, extra `headers` on top.
 */
export function apiCaller(baseUrl: () => string) {
  return (
    method: string,
    path: string,
    key: string | undefined,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<RawResponse> =>
    send(`${baseUrl()}${path}`, {
      method,
      headers: {
        ...headers,
        ...(key !== undefined ? { 'x-api-key': key } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
}
