import type http from 'node:http';
import type { Duplex } from 'node:stream';
import {
  createSourceEventStream,
  execute,
  getOperationAST,
  GraphQLError,
  parse,
  print,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import WebSocket, { WebSocketServer } from 'ws';
import { SESSION_ENDED, whenExpired, type AccessTokens, type CredentialsEnd, type Viewer } from './auth';
import { requestIdOf, validRequestId, type RequestContext } from './context';
import { ShopError, unauthenticated } from './errors';
import type { LiveSubscription } from './pubsub';
import type { Logger } from './logger';
import { activeSubscriptions, subscriptionPayloads, websocketConnections } from './metrics';
import type { Closeable } from './server';

/** The WebSocket close code of a server going away (RFC 6455). */
const GOING_AWAY = 1001;
/** graphql-ws's close code for a connection whose credentials no longer hold. */
const UNAUTHORIZED = 4401;

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };

const NOT_A_SUBSCRIPTION = 'This WebSocket serves subscriptions; send queries and mutations over HTTP.';

export interface SubgraphSubscriptionOptions<C extends RequestContext> {
  schema: GraphQLSchema;
  tokens: AccessTokens;
  /** Adds the subgraph's loaders and services to a base context, as for an HTTP request. */
  context(base: RequestContext): C;
  /** Formats every error a subscriber receives (registry codes pass, anything else is masked). */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  /** Largest message accepted from a client, in bytes. */
  maxMessageBytes: number;
  /** How long shutdown waits for subscriptions to complete and sockets to close, in ms. */
  graceMs: number;
  logger: Logger;
  /** A connection that sends no `connection_init` within this is closed (4408), in ms; default 3000. */
  initTimeoutMs?: number;
  /** The subgraph's name, on its metrics. */
  service: string;
}

/**
 * The results of one subscription: each event from the resolver's source runs through the
 * selection with a context of its own (fresh DataLoaders, so every event reads current
 * data). `interrupt` ends it from outside (token expiry, shutdown), optionally with a last
 * result; `return` (the client completed) ends the source too.
 */
class LiveResults implements AsyncIterableIterator<ExecutionResult> {
  private ended = false;
  private last: ExecutionResult | undefined;
  private wake: () => void = () => {};
  private readonly interrupted = new Promise<'interrupted'>((resolve) => (this.wake = () => resolve('interrupted')));

  constructor(
    private readonly source: AsyncIterator<unknown>,
    private readonly run: (event: unknown) => Promise<ExecutionResult> | ExecutionResult,
    private readonly onEnd: () => void,
  ) {}

  async next(): Promise<IteratorResult<ExecutionResult>> {
    if (this.last) {
      const value = this.last;
      this.last = undefined;
      return { value, done: false };
    }
    if (this.ended) return DONE;
    try {
      const step = await Promise.race([this.source.next(), this.interrupted]);
      if (step === 'interrupted') return this.next();
      if (step.done) {
        this.finish();
        return DONE;
      }
      return { value: await this.run(step.value), done: false };
    } catch (error) {
      // graphql-ws does not call return() on an iterator whose next() threw: release it here.
      this.finish();
      throw error;
    }
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.last = undefined;
    this.finish();
    return DONE;
  }

  async throw(error?: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.finish();
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Ends the subscription; a waiting `next()` yields `last` (when given), then done. */
  interrupt(last?: ExecutionResult): void {
    if (this.ended) return;
    this.last = last;
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.wake();
    this.onEnd();
    void this.source.return?.()?.catch(() => {});
  }
}

/** One WebSocket: who it is and the subscriptions it holds. */
class Connection {
  viewer: Viewer = { kind: 'anonymous' };
  /** Set once the viewer's token has expired: nothing more is served to it. */
  expired = false;
  readonly subscriptions = new Set<LiveResults>();
  /** Cancels the expiry timer of the connection's token. */
  cancelExpiry: () => void = () => {};
  constructor(
    readonly socket: WebSocket,
    public requestId: string,
    public logger: Logger,
  ) {}

  base(): RequestContext {
    return { requestId: this.requestId, viewer: this.viewer, logger: this.logger };
  }
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}


/**
 * The pub/sub message each event a resolver's source yielded came from. Every local
 * subscriber of a topic receives the same message object, so subscribers of the same
 * operation, variables and viewer can share one execution of it.
 */
const messageOrigins = new WeakMap<object, object>();

/** Who a result is computed for: subscribers that differ here never share one. */
function viewerKey(viewer: Viewer): string {
  return viewer.kind === 'customer' ? `customer:${viewer.customerId}:${[...viewer.scopes].sort().join(',')}` : viewer.kind;
}

/** A resolver's source as the messages it is fed, each mapped; `undefined` from `map` skips a message. */
export function liveMessages<T>(subscription: LiveSubscription, map: (message: unknown) => T | undefined): AsyncIterableIterator<T> {
  // Not an async generator: its `return()` would wait for the next message, so a client
  // leaving a quiet topic would never unsubscribe.
  const iterator: AsyncIterableIterator<T> = {
    async next() {
      for (;;) {
        const step = await subscription.next();
        if (step.done) return DONE;
        const value = map(step.value);
        if (value === undefined) continue;
        if (typeof value === 'object' && value !== null && typeof step.value === 'object' && step.value !== null) {
          messageOrigins.set(value, step.value);
        }
        return { value, done: false };
      }
    },
    async return() {
      await subscription.return();
      return DONE;
    },
    async throw(error?: unknown) {
      await subscription.return();
      throw error;
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

/**
 * Serves `graphql-transport-ws` subscriptions of a subgraph on the HTTP server's
 * `/graphql`. `connection_init` carries the caller's `authorization` (verified with the same
 * keys as HTTP: a bad or expired token is refused with 4403; none is anonymous) and
 * `x-request-id`. When the token expires, the connection's subscriptions end with an
 * UNAUTHENTICATED error and the socket closes with 4401. Queries and mutations stay on HTTP.
 */
export function attachSubgraphSubscriptions<C extends RequestContext>(server: http.Server, options: SubgraphSubscriptionOptions<C>): Closeable {
  const logger = options.logger.child({ component: 'subscriptions' });
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes });
  const connections = new Map<WebSocket, Connection>();
  /**
   * Executions of one message, by operation, variables and viewer: one per message however
   * many subscribers received it (a product watched by a thousand reads its stock once).
   */
  const sharedRuns = new WeakMap<object, Map<string, Promise<ExecutionResult> | ExecutionResult>>();
  /** Each result formatted once, however many subscribers it goes to. */
  const formattedResults = new WeakMap<ExecutionResult, FormattedExecutionResult>();
  /** Which connection a subscription's context belongs to: graphql-ws hands `subscribe` only its arguments. */
  const owners = new WeakMap<object, Connection>();
  let closing = false;

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/graphql') return refuseUpgrade(socket, 404, 'Not Found');
    if (closing) return refuseUpgrade(socket, 503, 'Service Unavailable');
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };
  server.on('upgrade', onUpgrade);

  wss.on('connection', (socket: WebSocket, req: http.IncomingMessage) => {
    const requestId = requestIdOf(req);
    connections.set(socket, new Connection(socket, requestId, logger.child({ requestId })));
    websocketConnections.inc({ service: options.service });
    socket.once('close', () => {
      websocketConnections.dec({ service: options.service });
      const connection = connections.get(socket);
      connections.delete(socket);
      if (!connection) return;
      connection.cancelExpiry();
      for (const results of [...connection.subscriptions]) results.interrupt();
    });
  });

  /** Ends every subscription of a connection whose token expired or whose session ended, then closes it. */
  const expire = (connection: Connection, why: CredentialsEnd = 'expired') => {
    connection.expired = true;
    const reason = why === 'expired' ? 'The access token has expired.' : SESSION_ENDED;
    connection.viewer = { kind: 'invalid', reason };
    const error = unauthenticated(why === 'expired' ? 'The access token has expired; sign in again and subscribe again.' : SESSION_ENDED);
    const ending = [...connection.subscriptions];
    for (const results of ending) results.interrupt({ errors: [error] });
    connection.logger.info({ subscriptions: ending.length, why }, 'credentials ended; subscriptions ended');
    // The errors and `complete` frames go out first: they are queued before the close frame.
    setTimeout(() => connection.socket.close(UNAUTHORIZED, 'Unauthorized'), 50).unref();
  };

  const formatErrors = (errors: readonly GraphQLError[]) => errors.map((e) => options.formatError(e.toJSON(), e));

  const disposable = useServer<Record<string, unknown>, { socket: WebSocket; request: http.IncomingMessage }>(
    {
      schema: options.schema,
      // Close reasons never carry internal messages.
      isProd: true,
      connectionInitWaitTimeout: options.initTimeoutMs ?? 3000,
      onConnect: async (ctx) => {
        const connection = connections.get(ctx.extra.socket);
        if (!connection || closing) return false;
        const params = ctx.connectionParams ?? {};
        const given = params.authorization ?? params.Authorization ?? ctx.extra.request.headers.authorization;
        const authorization = typeof given === 'string' && given ? given : undefined;
        const viewer = await options.tokens.viewerFromAuthorization(authorization);
        if (viewer.kind === 'invalid') {
          connection.logger.info({ reason: viewer.reason }, 'websocket refused: invalid access token');
          return false;
        }
        connection.viewer = viewer;
        connection.requestId = validRequestId(params['x-request-id']) ?? connection.requestId;
        connection.logger = logger.child({ requestId: connection.requestId });
        connection.cancelExpiry = whenExpired(viewer, (why) => expire(connection, why), options.tokens.revocations);
        return true;
      },
      onSubscribe: (ctx, _id, payload) => {
        const connection = connections.get(ctx.extra.socket);
        if (!connection || closing) return [new ShopError('SUBGRAPH_UNAVAILABLE', 'The service is shutting down; subscribe again.')];
        if (connection.expired) return [unauthenticated('The access token has expired; sign in again and subscribe again.')];
        // Parsed and validated here so that every refusal carries a registry code.
        let document: DocumentNode;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [new ShopError('GRAPHQL_PARSE_FAILED', (error as GraphQLError).message)];
        }
        const invalid = validate(options.schema, document);
        if (invalid.length > 0) return invalid.map((e) => new ShopError('GRAPHQL_VALIDATION_FAILED', e.message));
        const operation = getOperationAST(document, payload.operationName);
        if (!operation) return [new ShopError('OPERATION_RESOLUTION_FAILURE', 'Send exactly one operation, or name the one to run.')];
        if (operation.operation !== 'subscription') return [new ShopError('BAD_REQUEST', NOT_A_SUBSCRIPTION)];
        const contextValue = options.context(connection.base());
        owners.set(contextValue, connection);
        return {
          schema: options.schema,
          document,
          operationName: payload.operationName ?? null,
          variableValues: payload.variables ?? {},
          contextValue,
        };
      },
      // Only subscriptions reach execution (onSubscribe refuses the rest).
      execute: () => ({ errors: [new ShopError('BAD_REQUEST', NOT_A_SUBSCRIPTION)] }),
      subscribe: async (args: ExecutionArgs) => {
        const connection = owners.get(args.contextValue as object);
        const source = await createSourceEventStream(args);
        if (!connection || !(Symbol.asyncIterator in source)) return source as ExecutionResult;
        const operationKey = `${args.operationName ?? ''}\0${print(args.document)}\0${JSON.stringify(args.variableValues ?? {})}`;
        // Each event reads with fresh loaders: one context per event, as one per HTTP request.
        const run = (event: unknown) => execute({ ...args, rootValue: event, contextValue: options.context(connection.base()) });
        const results: LiveResults = new LiveResults(
          source[Symbol.asyncIterator](),
          (event) => {
            const origin = typeof event === 'object' && event !== null ? messageOrigins.get(event) : undefined;
            if (!origin) return run(event);
            let runs = sharedRuns.get(origin);
            if (!runs) sharedRuns.set(origin, (runs = new Map()));
            const key = `${operationKey}\0${viewerKey(connection.viewer)}`;
            let result = runs.get(key);
            if (!result) runs.set(key, (result = run(event)));
            return result;
          },
          () => {
            connection.subscriptions.delete(results);
            activeSubscriptions.dec({ service: options.service });
          },
        );
        connection.subscriptions.add(results);
        activeSubscriptions.inc({ service: options.service });
        return results;
      },
      onNext: (_ctx, _id, _payload, _args, result): FormattedExecutionResult => {
        subscriptionPayloads.inc({ service: options.service });
        let formatted = formattedResults.get(result);
        if (!formatted) {
          formatted = {
            ...(result.errors ? { errors: formatErrors(result.errors) } : {}),
            data: result.data ?? null,
            ...(result.extensions ? { extensions: result.extensions } : {}),
          };
          formattedResults.set(result, formatted);
        }
        return formatted;
      },
      onError: (_ctx, _id, _payload, errors) => formatErrors(errors),
    },
    wss,
  );

  let closed: Promise<void> | undefined;
  const close = async () => {
    closing = true;
    server.off('upgrade', onUpgrade);
    const within = (work: Promise<unknown>) =>
      Promise.race([work, new Promise<void>((resolve) => setTimeout(resolve, options.graceMs).unref())]);
    const all = [...connections.values()];
    for (const connection of all) connection.cancelExpiry();
    // Ending each source makes graphql-ws send `complete`, so subscribers see their subscriptions finish.
    const ending = all.flatMap((c) => [...c.subscriptions]);
    for (const results of ending) results.interrupt();
    // `complete` frames are written once the microtasks that send them have run.
    await within(new Promise((resolve) => setImmediate(resolve)));
    const sockets = [...wss.clients];
    const socketsClosed = Promise.all(
      sockets.map((s) => (s.readyState === WebSocket.CLOSED ? undefined : new Promise((resolve) => s.once('close', resolve)))),
    );
    for (const socket of sockets) socket.close(GOING_AWAY, 'Server shutting down');
    await within(socketsClosed);
    for (const socket of wss.clients) socket.terminate();
    await disposable.dispose();
    logger.info({ subscriptions: ending.length, sockets: sockets.length }, 'websockets closed');
  };
  return { close: () => (closed ??= close()) };
}
