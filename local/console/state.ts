import type { RequestFeed } from '../request-feed';
import type { DataBrowser } from './data';
import type { DatabaseMetrics } from './metrics';
import type { ConsoleOperations } from './operations';

/** What the console's server serves from. */
export interface ConsoleState {
  readonly feed: RequestFeed;
  readonly metrics: DatabaseMetrics;
  readonly data: DataBrowser;
  readonly operations: ConsoleOperations;
  /** The key spaces the data browser offers. */
  readonly spaces: readonly string[];
}
