import { createServer, type Server, type Socket } from 'node:net';
import { Client, errors } from '@elastic/elasticsearch';
import { GraphQLError } from 'graphql';
import { createErrorFormatter } from '../errors';
import { silentLogger } from '../logger';
import { isStoreUnavailable, STORE_RETRY_AFTER_SECONDS } from '../store-unavailable';

/** A local TCP server: `silent` accepts connections and never answers; otherwise it is closed again, so connecting is refused. */
async function localPort(silent: boolean): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  if (!silent) await close();
  return { port, close };
}

/** What the Elasticsearch client throws for a request to `port`, with one attempt of at most `ms`. */
async function clientFailure(port: number, ms = 150): Promise<unknown> {
  const client = new Client({ node: `http://127.0.0.1:${port}`, maxRetries: 0, requestTimeout: ms });
  try {
    await client.info();
    throw new Error('the request answered without a cluster');
  } catch (error) {
    return error;
  } finally {
    await client.close();
  }
}

/** The diagnostic of an answered request, as the client attaches it to a ResponseError. */
function answered(statusCode: number): ConstructorParameters<typeof errors.ResponseError>[0] {
  return {
    body: { error: { type: 'cluster_block_exception', reason: 'blocked' }, status: statusCode },
    statusCode,
    headers: {},
    warnings: null,
    meta: {
      context: null,
      name: 'elasticsearch-js',
      request: { params: { method: 'GET', path: '/' }, options: {}, id: 1 },
      connection: null,
      attempts: 0,
      aborted: false,
    },
  };
}

describe('isStoreUnavailable on Elasticsearch', () => {
  it('recognises a cluster that refuses connections, as the client reports it', async () => {
    const refused = await localPort(false);
    const error = await clientFailure(refused.port);
    expect(error).toBeInstanceOf(errors.ConnectionError);
    expect(isStoreUnavailable(error)).toBe(true);
    expect(isStoreUnavailable(new GraphQLError('failed', { originalError: error as Error }))).toBe(true);
  });

  it('recognises a cluster that does not answer in time', async () => {
    const silent = await localPort(true);
    try {
      const error = await clientFailure(silent.port);
      expect(error).toBeInstanceOf(errors.TimeoutError);
      expect(isStoreUnavailable(error)).toBe(true);
    } finally {
      await silent.close();
    }
  });

  it('recognises no node left to ask, and a cluster answering that it cannot serve', () => {
    expect(isStoreUnavailable(new errors.NoLivingConnectionsError('no living connections', answered(503)))).toBe(true);
    for (const status of [502, 503, 504]) expect(isStoreUnavailable(new errors.ResponseError(answered(status)))).toBe(true);
  });

  it('does not take other answers, or other errors of the same names, for an outage', () => {
    for (const status of [400, 404, 409, 429, 500]) expect(isStoreUnavailable(new errors.ResponseError(answered(status)))).toBe(false);
    const aborted = AbortSignal.abort(new DOMException('timed out', 'TimeoutError')).reason as DOMException;
    expect(aborted.name).toBe('TimeoutError');
    expect(isStoreUnavailable(aborted)).toBe(false);
    expect(isStoreUnavailable(Object.assign(new Error('other'), { name: 'ConnectionError' }))).toBe(false);
  });

  it('is answered SERVICE_UNAVAILABLE with a retry hint, and no internals', async () => {
    const refused = await localPort(false);
    const error = (await clientFailure(refused.port)) as Error;
    const format = createErrorFormatter(silentLogger());
    const graphqlError = new GraphQLError(error.message, { path: ['searchProducts'], originalError: error });
    const formatted = format({ message: error.message, path: ['searchProducts'], extensions: { code: 'INTERNAL_SERVER_ERROR' } }, graphqlError);
    expect(formatted.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: STORE_RETRY_AFTER_SECONDS });
    expect(formatted.message).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|connect/);
  });
});
