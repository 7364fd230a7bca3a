import { withTag } from '../request-tags';

/**
 * The console's own calls to a database, through the local Upstash endpoint like any client's,
 * tagged `console:*` so the endpoint's reports (and the console's charts) keep them apart from
 * the stack's traffic.
 */
export class RestDatabase {
  constructor(
    /** The database's name in the configuration. */
    readonly name: string,
    private readonly url: string,
    private readonly token: string,
  ) {}

  /** One command; its result, or an Error with Redis's message. */
  async command(...args: ReadonlyArray<string | number>): Promise<unknown> {
    const [reply] = await this.pipeline([args]);
    return reply;
  }

  /**
   * Several commands in one round trip; the results in order.
   * @throws Error with the first command's error, when one failed
   */
  async pipeline(commands: ReadonlyArray<ReadonlyArray<string | number>>): Promise<unknown[]> {
    const response = await withTag({ kind: 'console', id: 'console' }, () =>
      fetch(`${this.url}/pipeline`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(commands.map((args) => args.map(String))),
      }),
    );
    const body = (await response.json()) as Array<{ result?: unknown; error?: string }> | { error?: string };
    if (!Array.isArray(body)) throw new Error(body.error ?? `the endpoint answered ${response.status}`);
    return body.map((item) => {
      if (item.error !== undefined) throw new Error(item.error);
      return item.result;
    });
  }
}
