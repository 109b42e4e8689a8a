import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Logger } from './logger';
import type { AccessTokens, Viewer } from './auth';

/** What every resolver of every subgraph can rely on. */
export interface RequestContext {
  /** From `x-request-id`, or generated; logged with every line of this request. */
  requestId: string;
  viewer: Viewer;
  logger: Logger;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** The incoming request id when it is well-formed, otherwise a new one. */
export function requestIdOf(req: IncomingMessage): string {
  const header = req.headers['x-request-id'];
  return validRequestId(Array.isArray(header) ? header[0] : header) ?? randomUUID();
}

/** A caller's request id when it is one we accept (also from WebSocket connectionParams); else undefined. */
export function validRequestId(value: unknown): string | undefined {
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : undefined;
}

export async function baseContext(req: IncomingMessage, tokens: AccessTokens, logger: Logger): Promise<RequestContext> {
  const requestId = requestIdOf(req);
  return {
    requestId,
    viewer: await tokens.viewerFromAuthorization(req.headers.authorization),
    logger: logger.child({ requestId }),
  };
}
