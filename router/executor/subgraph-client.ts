import { Pool } from 'undici';
import { CLIENT_ADDRESS_HEADER } from '../../platform/context';
import { ShopError } from '../../platform/errors';
import type { Logger } from '../../platform/logger';
import type { RouterContext } from '../context';

/** How the router talks to its subgraphs. */
export interface SubgraphClientOptions {
  /** Connections kept open to each subgraph at most (keep-alive); default 128. */
  connections?: number;
  /** Longest wait for a subgraph's answer (headers, then body), in ms; default 30000. */
  timeoutMs?: number;
  /**
   * Share one subgraph request among identical queries in flight at once (same subgraph,
   * body and credentials); default true. Mutations are never shared.
   */
  deduplicate?: boolean;
  /** Called for every request actually sent (metrics, tests). */
  onFetch?: (subgraph: string) => void;
  logger: Logger;
}

/** A subgraph's answer, parsed: a GraphQL response object. */
export interface SubgraphResponse {
  data?: Record<string, unknown> | null;
  errors?: readonly { message?: string; path?: readonly (string | number)[]; extensions?: Record<string, unknown> }[];
  extensions?: Record<string, unknown>;
}

interface Endpoint {
  pool: Pool;
  path: string;
}

/**
 * One POST on the endpoint's pool, its answer kept as the chunks arrive and decoded once at
 * the end. A dispatch handler of our own, where `pool.request` would wrap every answer in a
 * stream (a Node Readable with its events and ticks) only for us to read it whole.
 */
function exchange(endpoint: Endpoint, headers: Record<string, string>, body: string): Promise<{ statusCode: number; text: string }> {
  return new Promise((resolve, reject) => {
    let statusCode = 0;
    let chunks: Buffer[] = [];
    let size = 0;
    endpoint.pool.dispatch(
      { path: endpoint.path, method: 'POST', headers, body },
      {
        // Its presence tells undici this handler takes the controller-style calls below.
        onRequestStart() {},
        onResponseStart(_controller, status) {
          // An informational answer (1xx) comes before the real one: keep only the last.
          statusCode = status;
          chunks = [];
          size = 0;
        },
        onResponseData(_controller, chunk) {
          chunks.push(chunk);
          size += chunk.length;
        },
        onResponseEnd() {
          const whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
          resolve({ statusCode, text: whole.toString('utf8') });
        },
        onResponseError(_controller, error) {
          reject(error);
        },
      },
    );
  });
}

/**
 * Subgraph requests over undici connection pools: one pool per subgraph, connections
 * kept alive, the body written as the executor built it and the answer parsed once. A
 * subgraph that cannot be reached, answers with an HTTP error, or answers something that
 * is not a GraphQL response becomes SUBGRAPH_UNAVAILABLE on the fields it owns.
 */
export class SubgraphClient {
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly inFlight = new Map<string, Promise<string>>();
  private readonly deduplicate: boolean;

  constructor(
    urls: ReadonlyMap<string, string>,
    private readonly options: SubgraphClientOptions,
  ) {
    this.deduplicate = options.deduplicate ?? true;
    const timeout = options.timeoutMs ?? 30_000;
    for (const [name, url] of urls) {
      const parsed = new URL(url);
      this.endpoints.set(name, {
        pool: new Pool(parsed.origin, {
          connections: options.connections ?? 128,
          headersTimeout: timeout,
          bodyTimeout: timeout,
          keepAliveTimeout: 30_000,
        }),
        path: `${parsed.pathname}${parsed.search}`,
      });
    }
  }

  /**
   * Sends `body` (a JSON GraphQL request) to `subgraph` on behalf of the caller in
   * `context`, and parses the answer. `shareable`: a query, which an identical one in
   * flight for the same credentials may answer.
   */
  async send(subgraph: string, body: string, context: Partial<RouterContext> | undefined, shareable: boolean): Promise<SubgraphResponse> {
    const text = this.deduplicate && shareable ? await this.shared(subgraph, body, context) : await this.post(subgraph, body, context);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw this.unavailable(subgraph, context, error);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw this.unavailable(subgraph, context, new Error('the answer is not a GraphQL response'));
    }
    return parsed as SubgraphResponse;
  }

  private shared(subgraph: string, body: string, context: Partial<RouterContext> | undefined): Promise<string> {
    // Credentials are part of the key: a caller is never answered with what another may see.
    const key = `${subgraph}\0${context?.headers?.authorization ?? ''}\0${body}`;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.post(subgraph, body, context).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async post(subgraph: string, body: string, context: Partial<RouterContext> | undefined): Promise<string> {
    const endpoint = this.endpoints.get(subgraph);
    if (!endpoint) throw new Error(`no subgraph named ${subgraph}`);
    this.options.onFetch?.(subgraph);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (context && 'requestId' in context) {
      // Every subgraph verifies the caller's token itself, and logs under the same request id.
      headers['x-request-id'] = context.requestId!;
      const incoming = context.headers ?? {};
      if (incoming.authorization) headers.authorization = incoming.authorization;
      // Sign-in throttling counts per client address, and sessions list the device: the subgraphs
      // see the router, so it says who it serves. A client-sent x-client-address is never passed on.
      if (context.clientAddress) headers[CLIENT_ADDRESS_HEADER] = context.clientAddress;
      if (incoming['user-agent']) headers['user-agent'] = incoming['user-agent'];
    }
    try {
      const { statusCode, text } = await exchange(endpoint, headers, body);
      if (statusCode < 200 || statusCode > 299) throw new Error(`HTTP ${statusCode}: ${text.slice(0, 200)}`);
      return text;
    } catch (error) {
      throw this.unavailable(subgraph, context, error);
    }
  }

  private unavailable(subgraph: string, context: Partial<RouterContext> | undefined, error: unknown): ShopError {
    if (error instanceof ShopError) return error;
    (context?.logger ?? this.options.logger).error({ err: error, subgraph }, 'subgraph request failed');
    return new ShopError('SUBGRAPH_UNAVAILABLE', `The ${subgraph} service is unavailable.`, { serviceName: subgraph });
  }

  /** Closes every connection; requests in flight finish first. */
  async close(): Promise<void> {
    await Promise.all([...this.endpoints.values()].map((endpoint) => endpoint.pool.close()));
  }
}
