import type http from 'node:http';
import type { Duplex } from 'node:stream';
import {
  GraphQLError,
  getOperationAST,
  parse,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import type { SubscribePayload } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { LRUCache } from 'lru-cache';
import WebSocket, { WebSocketServer } from 'ws';
import { mapSource, type AsyncQueue } from './async-queue';
import { SESSION_ENDED, whenExpired, type AccessTokens, type CredentialsEnd, type Viewer } from './auth';
import { requestIdOf, validRequestId } from './context';
import { ShopError, unauthenticated } from './errors';
import type { Logger } from './logger';
import { activeSubscriptions, subscriptionPayloads, websocketConnections } from './metrics';
import type { Closeable } from './server';

/** The WebSocket close code of a server going away (RFC 6455). */
const GOING_AWAY = 1001;
/** graphql-ws's close code for a connection whose credentials no longer hold. */
const UNAUTHORIZED = 4401;
/** How long the last results and `complete` frames of a connection whose credentials ended get before its close frame, in ms. */
const UNAUTHORIZED_CLOSE_DELAY_MS = 50;

const TOKEN_EXPIRED = 'The access token has expired; sign in again and subscribe again.';
const NOT_A_SUBSCRIPTION = 'This WebSocket serves subscriptions; send queries and mutations over HTTP.';

export interface SubscriptionLimits {
  /**
   * Browser origins allowed to open a WebSocket (normalized, `https://shop.example`). Empty: only
   * pages from the server's own host. A client that sends no Origin is not a browser and is allowed.
   */
  allowedOrigins: readonly string[];
  /** A connection that sends no `connection_init` within this is closed (4408), in ms; default 3000. */
  initTimeoutMs: number;
  /** Open subscriptions one connection may hold; default 20. */
  maxSubscriptionsPerConnection: number;
  /** Largest event payload sent to a client, in bytes; a larger event becomes an error; default 1 MiB. */
  maxEventBytes: number;
  /** Largest message accepted from a client, in bytes; default 1 MiB. */
  maxMessageBytes: number;
}

export const DEFAULT_SUBSCRIPTION_LIMITS: SubscriptionLimits = {
  allowedOrigins: [],
  initTimeoutMs: 3000,
  maxSubscriptionsPerConnection: 20,
  maxEventBytes: 1024 * 1024,
  maxMessageBytes: 1024 * 1024,
};

/**
 * Whether a WebSocket upgrade may proceed. Browsers always send Origin, so checking it stops
 * other sites' pages from opening a connection as the visitor; clients that send none
 * (apps, servers) carry their own token and are allowed.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  let parsed: URL;
  try {
    parsed = new URL(origin);
  } catch {
    return false;
  }
  if (allowed.length > 0) return allowed.includes(parsed.origin);
  return host !== undefined && parsed.host.toLowerCase() === host.toLowerCase();
}

/** A client's WebSocket once its `connection_init` was accepted. */
export interface SubscriberConnection<S> {
  /** From the upgrade request's `x-request-id`, or `connectionParams['x-request-id']`, or generated. */
  readonly requestId: string;
  readonly logger: Logger;
  /** Who the client is, from the token verified on `connection_init`. */
  readonly viewer: Viewer;
  /** The `authorization` the client sent (verified); undefined for an anonymous caller. */
  readonly authorization: string | undefined;
  /** What `connect` set up for this connection. */
  readonly state: S;
}

/** A subscription that passed the checks every server makes: parsed, valid, one subscription operation. */
export interface SubscriptionRequest<S> {
  readonly connection: SubscriberConnection<S>;
  /** The client's id for it, unique on its connection. */
  readonly id: string;
  readonly document: DocumentNode;
  readonly operation: OperationDefinitionNode;
  readonly operationName: string | undefined;
  /** As the client sent them. */
  readonly variables: Record<string, unknown>;
  /** The text the document was parsed from (what a persisted id stands for, or what was sent). */
  readonly query: string;
}

/** Where an open subscription's results come from: events, each run into a result as the client takes them. */
export interface SubscriptionEvents<E> {
  /** Read one at a time, when the client is ready for the next result; returned once the subscription ends. */
  events: AsyncIterator<E>;
  /** The result of one event. */
  run(event: E): PromiseLike<ExecutionResult> | ExecutionResult;
  /** The last result when `events` fails; without it the failure reaches the client as an `error` message. */
  recover?(error: unknown): ExecutionResult;
  /** Runs once when the subscription ends, however it ends. */
  release?(): void;
}

/** A subscription the server accepted. */
export interface AcceptedSubscription {
  /** Starts it: where its results come from, or the one result it ends with at once (its source refused). */
  open(): Promise<SubscriptionEvents<unknown> | ExecutionResult>;
  /** Adjusts each formatted result before it is measured and sent; default as it is. */
  shape?(formatted: FormattedExecutionResult): FormattedExecutionResult;
}

/** What a persisted document stands for: the text to parse, and how to register it once it validated. */
export interface DocumentText {
  query: string;
  register?(): Promise<void>;
}

export interface SubscriptionServerOptions<S> {
  /** Who serves: `router` or the subgraph's name, on metrics and in messages. */
  service: string;
  /** What subscriptions are validated against. */
  schema: GraphQLSchema;
  /** Verifies the token a client sends in `connectionParams` (or the upgrade request's `authorization`). */
  tokens: AccessTokens;
  /** Formats every error a client receives (registry codes pass, anything else is masked). */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  limits: SubscriptionLimits;
  /** How long shutdown waits for subscriptions to complete and sockets to close, in ms. */
  graceMs: number;
  logger: Logger;
  /** Sets up what a connection holds, once its token is verified; `param` reads `connectionParams`, then the upgrade request's headers. Default none. */
  connect?(param: (name: string) => unknown): S;
  /** Releases what `connect` set up, once: the connection closed or its credentials ended. */
  disconnect?(state: S): void;
  /** The text a subscription stands for (persisted ids, a safelist); a ShopError refuses it. Default the `query` sent. */
  document?(payload: SubscribePayload, connection: SubscriberConnection<S>): Promise<DocumentText | null>;
  /** Decides on a subscription that passed the common checks: errors refuse it, before anything opens. */
  accept(request: SubscriptionRequest<S>): AcceptedSubscription | readonly GraphQLError[] | Promise<AcceptedSubscription | readonly GraphQLError[]>;
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** One WebSocket: who it is, what the server set up for it and the subscriptions it holds. */
class Connection<S> implements SubscriberConnection<S> {
  viewer: Viewer = { kind: 'anonymous' };
  authorization: string | undefined;
  state = undefined as S;
  /** Whether `state` is set up and not yet released. */
  connected = false;
  /** Set once the client's credentials ended: nothing more is served to it. */
  expired = false;
  readonly subscriptions = new Map<string, ActiveSubscription>();
  /** Cancels the expiry timer of the client's token. */
  cancelExpiry: () => void = () => {};
  /** Closes the socket once the last results of ended credentials are out. */
  closing: NodeJS.Timeout | undefined;
  constructor(
    readonly socket: WebSocket,
    public requestId: string,
    public logger: Logger,
  ) {}
}

interface ActiveSubscription {
  results: AsyncQueue<ExecutionResult>;
  /** Resolves when graphql-ws has finished the subscription (sent `complete`, or the socket closed). */
  completed: Promise<void>;
  markCompleted(): void;
}

/** What `onSubscribe` hands to `subscribe`: graphql-ws passes it along as the context value. */
interface SubscriptionStart<S> {
  connection: Connection<S>;
  id: string;
  accepted: AcceptedSubscription;
}

/** Ends a subscription's results from outside, with a last result first when given. */
function interrupt(results: AsyncQueue<ExecutionResult>, last?: ExecutionResult): void {
  if (last) results.push(last);
  results.end();
}

/** Resolves when `work` does or after `ms`, whichever is first. */
async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Serves `graphql-transport-ws` subscriptions on the HTTP server's `/graphql`, for the router
 * and every subgraph alike. An upgrade from a browser origin not allowed is refused (403);
 * `connection_init` carries the caller's `authorization` (verified with the same keys as
 * HTTP: a bad or expired token is refused with 4403; none is anonymous) and `x-request-id`;
 * a connection that sends none in time is closed (4408). When the token expires or its
 * session ends, the connection's subscriptions end with an UNAUTHENTICATED error and the
 * socket closes with 4401. Each subscription is parsed, validated and checked to be one
 * subscription operation here (every refusal with a registry code), then `accept`ed; its
 * events are run one at a time, as the client takes them, so their order is kept and a slow
 * client holds back its own events only. Queries and mutations stay on HTTP. On close, open
 * subscriptions complete and sockets close with 1001.
 */
/** Subscription documents kept parsed and validated per server. */
const CHECKED_DOCUMENTS_KEPT = 1000;

export function serveSubscriptions<S>(server: http.Server, options: SubscriptionServerOptions<S>): Closeable {
  const { limits, service } = options;
  const logger = options.logger.child({ component: 'subscriptions' });
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxMessageBytes });
  const connections = new Map<WebSocket, Connection<S>>();
  /** Each result formatted (and measured) once, however many subscribers it goes to. */
  const formattedResults = new WeakMap<ExecutionResult, FormattedExecutionResult>();
  const shuttingDown = `The ${service} service is shutting down; subscribe again.`;
  let closing = false;
  /**
   * Documents parsed and validated, by their text: clients subscribe with a handful of
   * operations, so each is parsed and validated once (as Apollo Server does over HTTP).
   */
  const checked = new LRUCache<string, { document: DocumentNode } | { errors: readonly GraphQLError[] }>({ max: CHECKED_DOCUMENTS_KEPT });
  const check = (query: string): { document: DocumentNode } | { errors: readonly GraphQLError[] } => {
    let known = checked.get(query);
    if (!known) {
      try {
        const document = parse(query);
        const invalid = validate(options.schema, document);
        known = invalid.length > 0
          ? { errors: invalid.map((e) => new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })) }
          : { document };
      } catch (error) {
        known = { errors: [new ShopError('GRAPHQL_PARSE_FAILED', (error as GraphQLError).message)] };
      }
      checked.set(query, known);
    }
    return known;
  };

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/graphql') return refuseUpgrade(socket, 404, 'Not Found');
    if (closing) return refuseUpgrade(socket, 503, 'Service Unavailable');
    if (!originAllowed(req.headers.origin, req.headers.host, limits.allowedOrigins)) {
      logger.warn({ origin: req.headers.origin }, 'websocket from a disallowed origin refused');
      return refuseUpgrade(socket, 403, 'Forbidden');
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };
  server.on('upgrade', onUpgrade);

  /** Releases what the connection holds beyond its socket, once. */
  const disconnect = (connection: Connection<S>) => {
    connection.cancelExpiry();
    if (!connection.connected) return;
    connection.connected = false;
    options.disconnect?.(connection.state);
  };

  wss.on('connection', (socket: WebSocket, req: http.IncomingMessage) => {
    const requestId = requestIdOf(req);
    const connection = new Connection<S>(socket, requestId, logger.child({ requestId }));
    connections.set(socket, connection);
    websocketConnections.inc({ service });
    socket.once('close', () => {
      websocketConnections.dec({ service });
      connections.delete(socket);
      clearTimeout(connection.closing);
      // graphql-ws ends the subscriptions itself; marking them here keeps shutdown from waiting on a gone socket.
      for (const subscription of connection.subscriptions.values()) {
        void subscription.results.return();
        subscription.markCompleted();
      }
      connection.subscriptions.clear();
      disconnect(connection);
    });
  });

  /** Ends every subscription of a connection whose token expired or whose session ended, then closes it. */
  const expire = (connection: Connection<S>, why: CredentialsEnd) => {
    connection.expired = true;
    connection.viewer = { kind: 'invalid', reason: why === 'expired' ? 'The access token has expired.' : SESSION_ENDED };
    const message = why === 'expired' ? TOKEN_EXPIRED : SESSION_ENDED;
    const ending = [...connection.subscriptions.values()];
    for (const { results } of ending) interrupt(results, { errors: [unauthenticated(message)] });
    connection.logger.info({ subscriptions: ending.length, why }, 'credentials ended; subscriptions ended');
    // What was set up with the same credentials (the router's upstream connections) goes now.
    disconnect(connection);
    // The errors and `complete` frames go out first: they are queued before the close frame.
    connection.closing = setTimeout(() => connection.socket.close(UNAUTHORIZED, 'Unauthorized'), UNAUTHORIZED_CLOSE_DELAY_MS);
    connection.closing.unref();
  };

  const formatErrors = (errors: readonly GraphQLError[]) => errors.map((e) => options.formatError(e.toJSON(), e));

  /** The common checks, then `accept`: the execution graphql-ws runs, or the errors the client gets instead. */
  const admit = async (connection: Connection<S>, subscriptionCount: number, id: string, payload: SubscribePayload): Promise<readonly GraphQLError[] | ExecutionArgs> => {
    if (connection.expired) return [unauthenticated(TOKEN_EXPIRED)];
    // graphql-ws has already registered this id, so the count includes it.
    if (subscriptionCount > limits.maxSubscriptionsPerConnection) {
      return [new ShopError('SUBSCRIPTION_LIMIT', `A connection may hold at most ${limits.maxSubscriptionsPerConnection} subscriptions; complete one first.`)];
    }
    let text: DocumentText = { query: payload.query };
    try {
      text = (await options.document?.(payload, connection)) ?? text;
    } catch (error) {
      if (error instanceof ShopError) return [error];
      throw error;
    }
    const known = check(text.query);
    if ('errors' in known) return known.errors;
    const { document } = known;
    const operationName = payload.operationName ?? undefined;
    const operation = getOperationAST(document, operationName);
    if (!operation) {
      const message = operationName ? `Unknown operation named "${operationName}".` : 'Send exactly one operation, or name the one to run.';
      return [new ShopError('OPERATION_RESOLUTION_FAILURE', message)];
    }
    // Queries and mutations go over HTTP, where persisted-operation and cost limits apply.
    if (operation.operation !== 'subscription') return [new ShopError('BAD_REQUEST', NOT_A_SUBSCRIPTION)];
    const variables = payload.variables ?? {};
    const accepted = await options.accept({ connection, id, document, operation, operationName, variables, query: text.query });
    if (Array.isArray(accepted)) return accepted as readonly GraphQLError[];
    text.register?.().catch((err: unknown) => connection.logger.warn({ err }, 'persisted document registration failed'));
    const start: SubscriptionStart<S> = { connection, id, accepted: accepted as AcceptedSubscription };
    return { schema: options.schema, document, operationName, variableValues: variables, contextValue: start, rootValue: null };
  };

  /** Why a connection may not start a subscription now: it went, the server is closing, or its credentials ended. */
  const stopped = (connection: Connection<S>): ExecutionResult | undefined => {
    if (!connections.has(connection.socket) || closing) return { errors: [new ShopError('SUBGRAPH_UNAVAILABLE', shuttingDown)] };
    if (connection.expired) return { errors: [unauthenticated(TOKEN_EXPIRED)] };
    return undefined;
  };

  const subscribe = async (start: SubscriptionStart<S>): Promise<AsyncQueue<ExecutionResult> | ExecutionResult> => {
    const { connection, id } = start;
    // Checked again on each side of opening, which may take a while (a resolver's store reads).
    const before = stopped(connection);
    if (before) return before;
    const opened = await start.accepted.open();
    if (!('events' in opened)) return opened;
    activeSubscriptions.inc({ service });
    const results = mapSource(opened.events, (event) => opened.run(event), {
      ...(opened.recover ? { recover: (error: unknown) => opened.recover!(error) } : {}),
      onEnd: () => {
        activeSubscriptions.dec({ service });
        opened.release?.();
      },
    });
    const after = stopped(connection);
    if (after) {
      interrupt(results, after);
      return results;
    }
    let markCompleted = () => {};
    const completed = new Promise<void>((resolve) => (markCompleted = resolve));
    connection.subscriptions.set(id, { results, completed, markCompleted });
    return results;
  };

  const disposable = useServer<Record<string, unknown>, { socket: WebSocket; request: http.IncomingMessage }>(
    {
      schema: options.schema,
      // Close reasons never carry internal messages.
      isProd: true,
      connectionInitWaitTimeout: limits.initTimeoutMs,
      onConnect: async (ctx) => {
        const { socket, request } = ctx.extra;
        const connection = connections.get(socket);
        if (!connection || closing) return false;
        const params = ctx.connectionParams ?? {};
        const param = (name: string) => params[name] ?? request.headers[name];
        const given = params.authorization ?? params.Authorization ?? request.headers.authorization;
        const authorization = typeof given === 'string' && given ? given : undefined;
        const viewer = await options.tokens.viewerFromAuthorization(authorization);
        if (viewer.kind === 'invalid') {
          connection.logger.info({ reason: viewer.reason }, 'websocket refused: invalid access token');
          return false;
        }
        // Gone while its token was verified: nothing is set up for it.
        if (!connections.has(socket) || closing) return false;
        connection.viewer = viewer;
        connection.authorization = authorization;
        const requestId = validRequestId(params['x-request-id']);
        if (requestId) {
          connection.requestId = requestId;
          connection.logger = logger.child({ requestId });
        }
        connection.state = options.connect?.(param) as S;
        connection.connected = true;
        connection.cancelExpiry = whenExpired(viewer, (why) => expire(connection, why), options.tokens.revocations);
        return true;
      },
      onSubscribe: (ctx, id, payload) => {
        const connection = connections.get(ctx.extra.socket);
        if (!connection || closing) return [new ShopError('SUBGRAPH_UNAVAILABLE', shuttingDown)];
        return admit(connection, Object.keys(ctx.subscriptions).length, id, payload);
      },
      subscribe: (args) => subscribe(args.contextValue as SubscriptionStart<S>),
      // Only subscriptions reach execution (onSubscribe refuses the rest); kept so nothing runs unchecked.
      execute: () => ({ errors: [new ShopError('BAD_REQUEST', NOT_A_SUBSCRIPTION)] }),
      onNext: (_ctx, id, _payload, args, result): FormattedExecutionResult => {
        subscriptionPayloads.inc({ service });
        const known = formattedResults.get(result);
        if (known) return known;
        let formatted: FormattedExecutionResult = {
          ...(result.errors ? { errors: formatErrors(result.errors) } : {}),
          data: result.data ?? null,
          ...(result.extensions ? { extensions: result.extensions } : {}),
        };
        const shape = (args.contextValue as SubscriptionStart<S>).accepted.shape;
        if (shape) formatted = shape(formatted);
        if (Number.isFinite(limits.maxEventBytes)) {
          const size = Buffer.byteLength(JSON.stringify(formatted));
          if (size > limits.maxEventBytes) {
            logger.warn({ subscriptionId: id, size, limit: limits.maxEventBytes }, 'subscription event too large, replaced by an error');
            const tooLarge = new ShopError('EVENT_TOO_LARGE', `This event is larger than ${limits.maxEventBytes} bytes and was not delivered; select fewer fields.`);
            formatted = { data: null, errors: [{ message: tooLarge.message, extensions: tooLarge.extensions }] };
          }
        }
        formattedResults.set(result, formatted);
        return formatted;
      },
      onError: (_ctx, _id, _payload, errors) => formatErrors(errors),
      onComplete: (ctx, id) => {
        const connection = connections.get(ctx.extra.socket);
        const active = connection?.subscriptions.get(id);
        if (!active) return;
        connection!.subscriptions.delete(id);
        active.results.end();
        active.markCompleted();
      },
    },
    wss,
  );

  let closed: Promise<void> | undefined;
  const close = async () => {
    closing = true;
    server.off('upgrade', onUpgrade);
    const all = [...connections.values()];
    for (const connection of all) connection.cancelExpiry();
    // Ending each subscription makes graphql-ws send `complete`, so clients see them finish.
    const active = all.flatMap((c) => [...c.subscriptions.values()]);
    for (const { results } of active) interrupt(results);
    await within(Promise.all(active.map((s) => s.completed)), options.graceMs);
    // `complete` frames are written once the microtasks that send them have run.
    await new Promise((resolve) => setImmediate(resolve));
    const sockets = [...wss.clients];
    const socketsClosed = Promise.all(sockets.map((s) => (s.readyState === WebSocket.CLOSED ? undefined : new Promise((resolve) => s.once('close', resolve)))));
    for (const socket of sockets) socket.close(GOING_AWAY, 'Server shutting down');
    await within(socketsClosed, options.graceMs);
    for (const socket of wss.clients) socket.terminate();
    await disposable.dispose();
    logger.info({ subscriptions: active.length, sockets: sockets.length }, 'websockets closed');
  };
  return { close: () => (closed ??= close()) };
}
