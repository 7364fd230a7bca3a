import type { CapturedOutput } from './output';

/** The JSON lines (Powertools Logger's) of captured output whose `message` is `message`. */
export const logLines = (output: CapturedOutput, message: string): Array<Record<string, unknown>> =>
  output
    .text()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.message === message);
