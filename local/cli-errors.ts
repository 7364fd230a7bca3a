/**
 * How the local commands fail: one line on stderr, `<command>: <what went wrong>; <what to do>`,
 * never a stack trace, then an exit code (2 for a bad flag, 1 for anything else).
 */

/** Prints `<program>: <message>` (its first line) and exits with `code`. */
export function cliError(program: string, message: string, code: number): never {
  process.stderr.write(`${program}: ${oneLine(message)}\n`);
  process.exit(code);
}

/** The first line of a message. */
export const oneLine = (message: string): string => message.split('\n')[0] ?? '';

/** A flag parser's error as one line, with where the options are listed. */
export function flagError(error: unknown, help: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  const message = oneLine((error as Error).message);
  const quoted = /'([^']*)'/.exec(message)?.[1]?.split(' ')[0];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && quoted) return `unknown option ${quoted}; ${help}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && quoted) return `${quoted} needs a value; ${help}`;
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' && quoted)
    return `unexpected argument ${quoted}; ${help}`;
  return `${message}; ${help}`;
}

/** A port another process holds. */
export const portInUse = (port: number, flag: string): string =>
  `port ${port} is in use; stop what holds it, or choose another with ${flag} (0 picks a free one)`;
