import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { flagError, portInUse } from '../../../local/cli-errors';
import type { RequestRecord } from '../../../local/request-feed';
import { errorMessage, shortLine } from '../../../local/terminal';

const record = (over: Partial<RequestRecord> = {}): RequestRecord => ({
  id: 'r1',
  kind: 'api',
  at: Date.UTC(2026, 11, 1, 14, 3, 7),
  method: 'PUT',
  path: '/cache/hello',
  route: 'PUT /cache/{key}',
  status: 200,
  ms: 3.6,
  cost: { commands: 2, roundTrips: 2, billed: 4 },
  byDatabase: { cache: { commands: 2, roundTrips: 2, billed: 4 } },
  lines: 3,
  ...over,
});

describe("npm start's terminal lines", () => {
  it('says each request in one line: time, method, path, status, ms and its Upstash cost', () => {
    expect(shortLine(record())).toBe('14:03:07 PUT /cache/hello 200 4 ms  2 cmd, 2 rt, 4 billed');
    expect(
      shortLine(
        record({
          method: 'GET',
          path: '/nope',
          status: 404,
          ms: 1,
          cost: { commands: 0, roundTrips: 0, billed: 0 },
        }),
      ),
    ).toBe('14:03:07 GET /nope 404 1 ms  no Upstash commands');
    expect(
      shortLine(
        record({ kind: 'scheduled', method: 'RUN', path: 'maintenance', status: 500, error: 'timed out' }),
      ),
    ).toBe('14:03:07 RUN maintenance failed 4 ms  2 cmd, 2 rt, 4 billed  (timed out)');
  });

  it('picks the ERROR lines of a request out of its JSON logs, with their cause', () => {
    expect(errorMessage('{"level":"ERROR","message":"request failed","error":{"message":"boom"}}')).toBe(
      'request failed: boom',
    );
    expect(errorMessage('{"level":"INFO","message":"request"}')).toBeUndefined();
    expect(errorMessage('{"_aws":{}}')).toBeUndefined();
    expect(errorMessage('not json')).toBeUndefined();
  });

  it('turns flag errors into one line that says where the options are', () => {
    const parse = (args: string[]) => {
      try {
        parseArgs({ args, options: { port: { type: 'string' } } });
      } catch (error) {
        return flagError(error, 'see --help');
      }
      return 'parsed';
    };
    expect(parse(['--bogus'])).toBe('unknown option --bogus; see --help');
    expect(parse(['--port'])).toBe('--port needs a value; see --help');
    expect(parse(['x'])).toBe('unexpected argument x; see --help');
    expect(portInUse(3000, '--port')).toBe(
      'port 3000 is in use; stop what holds it, or choose another with --port (0 picks a free one)',
    );
  });
});
