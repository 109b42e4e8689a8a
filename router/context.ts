import type { Viewer } from '../platform/auth';
import type { Logger } from '../platform/logger';

/** What the router keeps of one client request. */
export interface RouterContext {
  requestId: string;
  /** The incoming headers the data sources forward (lower-case names). */
  headers: Record<string, string | undefined>;
  /** The caller's address as this router's socket sees it; subgraphs get it as `x-client-address`. */
  clientAddress?: string;
  /** The caller, from the access token verified once for this request. */
  viewer: Viewer;
  logger: Logger;
}
