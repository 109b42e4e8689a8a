import type { ActiveApiKey } from '../platform/api-keys';
import type { Viewer } from '../platform/auth';
import type { Logger } from '../platform/logger';
import type { ResolvedDocument } from './documents';

/** What the router keeps of one client request. */
export interface RouterContext {
  requestId: string;
  /** The incoming headers the data sources forward (lower-case names). */
  headers: Record<string, string | undefined>;
  /** The caller's address as this router's socket sees it; subgraphs get it as `x-client-address`. */
  clientAddress?: string;
  /** The caller, from the access token verified once for this request. */
  viewer: Viewer;
  /** The partner key the request came with (partner endpoint only). */
  partner?: ActiveApiKey;
  logger: Logger;
  /** What the document step decided for an operation sent by id or by a safelisted client; absent for free text. */
  document?: ResolvedDocument | undefined;
}
