import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer, type BaseContext, type HTTPGraphQLRequest } from '@apollo/server';
import { timingSafeEqual } from 'node:crypto';
import { requestIdOf } from './context';
import type { Logger } from './logger';
import { metricsText, type MetricsAccess } from './metrics';

export interface GraphQLHttpOptions<C extends BaseContext> {
  apollo: ApolloServer<C>;
  /** Builds the per-request context; DataLoaders are created here, never at module level. */
  context(req: IncomingMessage, requestId: string): Promise<C>;
  /** `/ready` answers 200 only when this resolves true (stores answer). */
  ready(): Promise<boolean>;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
  logger: Logger;
  /** `/metrics` (Prometheus text); default open, as in development. */
  metrics?: MetricsAccess;
  /** More GraphQL endpoints on the port, by path (the router's `/partner/graphql`): each its own server and context. */
  graphqlEndpoints?: Record<string, GraphQLEndpoint<C>>;
  /** Plain HTTP endpoints by path (the partner SDL, a subgraph's internal API). */
  routes?: Record<string, HttpRoute>;
  /** Runs before Apollo Server on every `/graphql` request (the router's document step); default none. */
  beforeApollo?: GraphQLEndpoint<C>['beforeApollo'];
}

/** What a step in front of Apollo Server decides: the request to run, or an answer sent as it is. */
export type GraphQLHttpStep = { request: HTTPGraphQLRequest } | { answer: { status: number; headers: Record<string, string>; body: unknown } };

/** A GraphQL server at a path of its own. */
export interface GraphQLEndpoint<C extends BaseContext> {
  apollo: ApolloServer<C>;
  context(req: IncomingMessage, requestId: string): Promise<C>;
  /** Runs before Apollo Server on each request of the endpoint; default none. */
  beforeApollo?(request: HTTPGraphQLRequest, req: IncomingMessage): Promise<GraphQLHttpStep>;
}

/** Answers one plain HTTP request; what it throws is logged and answered with 500. */
export type HttpRoute = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return reject(new HttpError(413, `Request body is larger than ${limit} bytes.`));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new HttpError(413, `Request body is larger than ${limit} bytes.`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { errors: [{ message, extensions: { code: 'BAD_REQUEST' } }] });
}

/** Whether a request may read the metrics: compared in constant time, so the token cannot be guessed by timing. */
function metricsAllowed(req: IncomingMessage, access: MetricsAccess): boolean {
  if (!access.enabled) return false;
  if (access.token === undefined) return true;
  const given = Buffer.from(req.headers.authorization ?? '');
  const expected = Buffer.from(`Bearer ${access.token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Serves Apollo Server on plain `node:http`: `/graphql` (GET and POST), `/health`
 * (the process is alive), `/ready` (its stores answer) and `/metrics` (Prometheus).
 */
export function createGraphQLHttpHandler<C extends BaseContext>(options: GraphQLHttpOptions<C>) {
  const { logger } = options;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (url.pathname === '/health') return sendJson(res, 200, { status: 'ok' });
      if (url.pathname === '/ready') {
        const ready = await options.ready().catch(() => false);
        return sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable' });
      }
      if (url.pathname === '/metrics') {
        const access = options.metrics ?? { enabled: true };
        if (!access.enabled) return sendJson(res, 404, { error: 'Not found' });
        if (!metricsAllowed(req, access)) {
          res.setHeader('www-authenticate', 'Bearer');
          return sendJson(res, 401, { error: 'Send the metrics token as a bearer token.' });
        }
        const { contentType, body } = await metricsText();
        res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      const endpoint = url.pathname === '/graphql' ? options : options.graphqlEndpoints?.[url.pathname];
      if (!endpoint) {
        const route = options.routes?.[url.pathname];
        return route ? await route(req, res) : sendJson(res, 404, { error: 'Not found' });
      }
      if (req.method !== 'GET' && req.method !== 'POST') {
        res.setHeader('allow', 'GET, POST');
        return sendError(res, 405, 'Use GET or POST.');
      }

      const requestId = requestIdOf(req);
      res.setHeader('x-request-id', requestId);
      let body: unknown;
      if (req.method === 'POST') {
        const text = await readBody(req, options.maxBodyBytes);
        const type = req.headers['content-type'] ?? '';
        if (type.startsWith('application/json') || type.startsWith('application/graphql-response+json')) {
          try {
            body = text ? JSON.parse(text) : {};
          } catch {
            return sendError(res, 400, 'The request body is not valid JSON.');
          }
        } else {
          body = text;
        }
      }
      const headers = new HeaderMap();
      for (const [key, value] of Object.entries(req.headers)) {
        if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
      }
      let httpGraphQLRequest: HTTPGraphQLRequest = { method: req.method, headers, search: url.search, body };
      if (endpoint.beforeApollo) {
        const step = await endpoint.beforeApollo(httpGraphQLRequest, req);
        if ('answer' in step) {
          for (const [key, value] of Object.entries(step.answer.headers)) res.setHeader(key, value);
          return sendJson(res, step.answer.status, step.answer.body);
        }
        httpGraphQLRequest = step.request;
      }
      const result = await endpoint.apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest,
        context: () => endpoint.context(req, requestId),
      });
      for (const [key, value] of result.headers) res.setHeader(key, value);
      res.statusCode = result.status ?? 200;
      if (result.body.kind === 'complete') {
        res.end(result.body.string);
      } else {
        for await (const chunk of result.body.asyncIterator) res.write(chunk);
        res.end();
      }
    } catch (error) {
      if (error instanceof HttpError) return sendError(res, error.status, error.message);
      logger.error({ err: error }, 'http handler failed');
      if (!res.headersSent) sendJson(res, 500, { errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
      else res.end();
    }
  };
}
