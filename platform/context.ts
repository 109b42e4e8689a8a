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
  /** Who is on the other end of an HTTP request; absent on WebSocket events. */
  client?: ClientInfo;
}

/** The calling device, as sign-in and session records need it. */
export interface ClientInfo {
  /**
   * The caller's network address: `x-client-address` when present (only the router sets it,
   * from its own socket; subgraphs are not reachable by clients), else this socket's peer.
   */
  address?: string;
  /** The caller's `user-agent` (forwarded by the router), at most 512 characters. */
  userAgent?: string;
}

/** Header the router sets to the address of the client it serves; subgraphs trust it from the router only. */
export const CLIENT_ADDRESS_HEADER = 'x-client-address';

const USER_AGENT_MAX = 512;
const ADDRESS_MAX = 64;

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first?.trim() || undefined;
}

/** The client's address and user agent, as far as the request tells. */
export function clientOf(req: IncomingMessage): ClientInfo {
  const address = (headerValue(req, CLIENT_ADDRESS_HEADER) ?? req.socket?.remoteAddress)?.slice(0, ADDRESS_MAX);
  const userAgent = headerValue(req, 'user-agent')?.slice(0, USER_AGENT_MAX);
  return { ...(address ? { address } : {}), ...(userAgent ? { userAgent } : {}) };
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
    client: clientOf(req),
  };
}
