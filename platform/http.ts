import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
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
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
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

function sendJson(res: ServerResponse, status: number, body: unknown): void {
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
  const { apollo, logger } = options;
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
      if (url.pathname !== '/graphql') return sendJson(res, 404, { error: 'Not found' });
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
      const result = await apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: req.method, headers, search: url.search, body },
        context: () => options.context(req, requestId),
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
