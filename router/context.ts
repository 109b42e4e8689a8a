import type { Logger } from '../platform/logger';

/** What the router keeps of one client request. */
export interface RouterContext {
  requestId: string;
  /** The incoming headers the data sources forward (lower-case names). */
  headers: Record<string, string | undefined>;
  logger: Logger;
}
