import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { inject } from 'vitest';

/**
 * Suite-wide isolation (a vitest setup file, so it runs in every test file's process): the stack
 * file of an `npm start` running in this directory (`.local/stack.json`, or wherever the shell's
 * LOCAL_STACK_FILE points) is never read, written or removed by a test. Each file gets a path of
 * its own in the run's scratch directory; a test that needs a stack file sets its own, and the
 * processes it spawns inherit whichever is set. The global setup checks the real one is untouched.
 */
process.env.LOCAL_STACK_FILE = join(inject('scratchRoot'), `stack-${randomBytes(4).toString('hex')}.json`);
