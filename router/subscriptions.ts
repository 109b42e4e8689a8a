import { createHash } from 'node:crypto';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { ServiceMap } from '@apollo/gateway';
import { GraphQLError, getOperationAST, parse, validate, type DocumentNode, type ExecutionArgs, type ExecutionResult, type FormattedExecutionResult, type GraphQLFormattedError } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import WebSocket, { WebSocketServer } from 'ws';
import { SESSION_ENDED, whenExpired, type AccessTokens, type CredentialsEnd, type Viewer } from '../platform/auth';
import { requestIdOf } from '../platform/context';
import { ShopError, unauthenticated } from '../platform/errors';
import type { Logger } from '../platform/logger';
import { activeSubscriptions, subscriptionPayloads, websocketConnections } from '../platform/metrics';
import type { Closeable } from '../platform/server';
import { restoreRemoved, type RemovalTree } from './auth-filter';
import type { RouterContext } from './context';
import { clientIdentity, type ClientIdentity, type PersistedDocuments, type ResolvedDocument } from './documents';
import type { Edge } from './edge';
import { EventStream } from './event-stream';
import { SharedEventRuns, subscriberGroup } from './shared-events';
import type { PlannedSubscription, SubscriptionPlanner } from './subscription-plan';

/** The WebSocket close code of a server going away (RFC 6455). */
const GOING_AWAY = 1001;
/** graphql-ws's close code for a connection whose credentials no longer hold. */
const UNAUTHORIZED = 4401;

const TOKEN_EXPIRED = 'The access token has expired; sign in again and subscribe again.';

/** Events of one subscription waiting to be completed or read before the client counts as too slow. */
const MAX_BACKLOG = 100;

/**
 * Subscribers of one operation, variables and token share each event's completion when its
 * copies arrive within this many ms (they arrive together: one publish reaches every
 * subscriber's upstream at once).
 */
const EVENT_SHARING_WINDOW_MS = 500;
const EVENT_SHARING_MAX_ENTRIES = 10_000;

export interface SubscriptionLimits {
  /**
   * Browser origins allowed to open a WebSocket (normalized, `https://shop.example`). Empty: only
   * pages from the router's own host. A client that sends no Origin is not a browser and is allowed.
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

export interface SubscriptionServerOptions {
  planner: SubscriptionPlanner;
  /** Verifies the token a client sends in `connectionParams` before anything is opened upstream. */
  tokens: AccessTokens;
  /** The router's data sources by subgraph name: entity fetches for events go through them. */
  services: () => ServiceMap;
  /** Formats every error a client receives (registry codes pass, anything else is masked). */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  limits: SubscriptionLimits;
  /** The edge's guard (limits, fields the caller may not see, cost), as over HTTP; default none. */
  guard?: Pick<Edge, 'check'>;
  /** The document step (persisted ids, the safelist), as over HTTP; default none: every subscription is sent as text. */
  documents?: Pick<PersistedDocuments, 'resolve'>;
  /** How long shutdown waits for subscriptions to complete and sockets to close, in ms. */
  graceMs: number;
  logger: Logger;
}

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

/** `http://h/graphql` → `ws://h/graphql`: every subgraph serves subscriptions on its GraphQL path. */
export function webSocketUrl(httpUrl: string): string {
  const url = new URL(httpUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** One client connection: who it is, its upstream connections and its subscriptions. */
class Connection {
  readonly upstreams = new Map<string, Client>();
  readonly subscriptions = new Map<string, ActiveSubscription>();
  authorization: string | undefined;
  /** Who the client is, from the token verified on `connection_init`. */
  viewer: Viewer = { kind: 'anonymous' };
  /** The app the client says it is, from `connectionParams` or the upgrade request's headers. */
  client: ClientIdentity = {};
  /** Set once the client's token has expired: nothing more is served to it. */
  expired = false;
  /** Cancels the expiry timer of the client's token. */
  cancelExpiry: () => void = () => {};
  constructor(
    readonly socket: WebSocket,
    readonly requestId: string,
    readonly logger: Logger,
  ) {}

  close(): void {
    this.cancelExpiry();
    for (const client of this.upstreams.values()) void client.dispose();
    this.upstreams.clear();
  }
}

interface ActiveSubscription {
  stream: EventStream<ExecutionResult>;
  /** Resolves when graphql-ws has finished the subscription (sent `complete` or the socket closed). */
  completed: Promise<void>;
  markCompleted(): void;
}

/** What `onSubscribe` hands to `subscribe`: graphql-ws passes it along as the context value. */
interface SubscriptionStart {
  connection: Connection;
  id: string;
  planned: PlannedSubscription;
  /** Fields the guard removed for this caller: each event gets them back as nulls with their errors. */
  removed: RemovalTree | null;
}

function asErrors(reason: unknown, subgraph: string): GraphQLError[] {
  if (Array.isArray(reason) && reason.length > 0) {
    // The subgraph refused the operation; its errors keep their codes (masked later if unknown).
    return (reason as GraphQLFormattedError[]).map((e) => new GraphQLError(e.message, { extensions: e.extensions ?? {} }));
  }
  // A subgraph closes with 4403 when it refuses the token at connection_init and 4401 when it expires.
  const code = (reason as { code?: unknown } | null)?.code;
  if (code === 4401 || code === 4403) {
    return [new ShopError('UNAUTHENTICATED', code === 4401 ? 'The access token has expired.' : 'The access token is not valid.')];
  }
  return [new ShopError('SUBGRAPH_UNAVAILABLE', `The ${subgraph} service stopped sending events.`)];
}

/**
 * Serves `graphql-transport-ws` on the HTTP server's `/graphql`: validates and plans each
 * subscription, opens its primary fetch at the owning subgraph over graphql-ws (with the
 * client's token and a request id in `connectionParams`), and completes every event with
 * the rest of the plan before sending it, one event at a time so order is kept.
 */
export function attachSubscriptionServer(server: http.Server, options: SubscriptionServerOptions): Closeable {
  const { planner, limits } = options;
  const logger = options.logger.child({ component: 'subscriptions' });
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxMessageBytes });
  const connections = new Map<WebSocket, Connection>();
  const sharedRuns = new SharedEventRuns({ windowMs: EVENT_SHARING_WINDOW_MS, maxEntries: EVENT_SHARING_MAX_ENTRIES });
  /** Each completed event formatted (and measured) once, however many subscribers it goes to. */
  const formattedResults = new WeakMap<ExecutionResult, FormattedExecutionResult>();
  let closing = false;

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

  wss.on('connection', (socket: WebSocket, req: http.IncomingMessage) => {
    const requestId = requestIdOf(req);
    const connection = new Connection(socket, requestId, logger.child({ requestId }));
    connections.set(socket, connection);
    websocketConnections.inc({ service: 'router' });
    socket.once('close', () => {
      websocketConnections.dec({ service: 'router' });
      // graphql-ws ends the streams itself; marking them here keeps shutdown from waiting on a gone socket.
      for (const subscription of connection.subscriptions.values()) {
        subscription.stream.end();
        subscription.markCompleted();
      }
      connection.subscriptions.clear();
      connection.close();
      connections.delete(socket);
    });
  });

  /** Ends every subscription of a connection whose token expired with UNAUTHENTICATED, then closes it. */
  const expire = (connection: Connection, why: CredentialsEnd = 'expired') => {
    connection.expired = true;
    const message = why === 'expired' ? TOKEN_EXPIRED : SESSION_ENDED;
    const ending = [...connection.subscriptions.values()];
    for (const subscription of ending) {
      subscription.stream.push({ errors: [unauthenticated(message)] });
      subscription.stream.end();
    }
    connection.logger.info({ subscriptions: ending.length, why }, 'credentials ended; subscriptions ended');
    // Upstream connections carry the same token: close them rather than wait for each subgraph to.
    connection.close();
    // The errors and `complete` frames go out first: they are queued before the close frame.
    setTimeout(() => connection.socket.close(UNAUTHORIZED, 'Unauthorized'), 50).unref();
  };

  const upstreamFor = (connection: Connection, subgraph: string): Client => {
    let client = connection.upstreams.get(subgraph);
    if (!client) {
      const url = planner.subgraphUrls.get(subgraph);
      if (!url) throw new Error(`no URL for subgraph ${subgraph}`);
      client = createClient({
        url: webSocketUrl(url),
        webSocketImpl: WebSocket,
        // The subgraph verifies the caller's token itself, and logs under the same request id.
        connectionParams: {
          ...(connection.authorization ? { authorization: connection.authorization } : {}),
          'x-request-id': connection.requestId,
        },
        lazy: true,
        // A retried upstream would silently miss events; the client resubscribes instead.
        retryAttempts: 0,
        on: { error: (err) => connection.logger.warn({ err, subgraph }, 'subgraph websocket failed') },
      });
      connection.upstreams.set(subgraph, client);
    }
    return client;
  };

  /** Opens the primary at its subgraph; each event is completed in turn and queued for the client. */
  const subscribe = ({ connection, id, planned }: SubscriptionStart): EventStream<ExecutionResult> => {
    const subgraph = planned.primary.serviceName;
    const context: RouterContext = {
      requestId: connection.requestId,
      headers: { authorization: connection.authorization },
      viewer: connection.viewer,
      logger: connection.logger.child({ subscriptionId: id }),
    };
    const group = subscriberGroup(planned.operationKey, planned.variables, connection.authorization);
    let unsubscribe = () => {};
    // Released exactly once, however the subscription ends.
    const stream = new EventStream<ExecutionResult>(() => {
      activeSubscriptions.dec({ service: 'router' });
      unsubscribe();
    });
    activeSubscriptions.inc({ service: 'router' });
    let pending = 0;
    let tail = Promise.resolve();
    const finishWith = (result: ExecutionResult | undefined) => {
      if (result) stream.push(result);
      stream.end();
    };
    unsubscribe = upstreamFor(connection, subgraph).subscribe(planner.primaryRequest(planned), {
      next: (event) => {
        if (stream.isEnded) return;
        if (pending + stream.backlog >= MAX_BACKLOG) {
          context.logger.warn({ subgraph }, 'subscription dropped: events arrive faster than the client reads them');
          finishWith({ errors: [new ShopError('SUBGRAPH_UNAVAILABLE', 'Events arrived faster than they could be delivered; subscribe again.')] });
          return;
        }
        pending++;
        tail = tail.then(async () => {
          // The client left while this event waited: no point completing it.
          if (stream.isEnded) return void pending--;
          const result = await sharedRuns.run(group, event, () => planner.runEvent(planned, event, context, options.services()));
          pending--;
          stream.push(result);
        });
      },
      error: (reason) => {
        context.logger.warn({ err: reason instanceof Error ? reason : undefined, subgraph }, 'subgraph subscription failed');
        tail = tail.then(() => finishWith({ errors: asErrors(reason, subgraph) }));
      },
      complete: () => {
        tail = tail.then(() => finishWith(undefined));
      },
    });
    if (stream.isEnded) unsubscribe();
    return stream;
  };

  const formatErrors = (errors: readonly GraphQLError[]) => errors.map((e) => options.formatError(e.toJSON(), e));

  const disposable = useServer(
    {
      // Close reasons never carry internal messages.
      isProd: true,
      connectionInitWaitTimeout: limits.initTimeoutMs,
      // A bad or expired token is refused here (graphql-ws closes with 4403); none is anonymous.
      onConnect: async (ctx) => {
        const connection = connections.get(ctx.extra.socket);
        if (!connection || closing) return false;
        const params = ctx.connectionParams ?? {};
        const token = params.authorization ?? params.Authorization ?? ctx.extra.request.headers.authorization;
        const authorization = typeof token === 'string' && token ? token : undefined;
        const viewer = await options.tokens.viewerFromAuthorization(authorization);
        if (viewer.kind === 'invalid') {
          connection.logger.info({ reason: viewer.reason }, 'websocket refused: invalid access token');
          return false;
        }
        connection.authorization = authorization;
        connection.viewer = viewer;
        connection.client = clientIdentity((name) => params[name] ?? ctx.extra.request.headers[name]);
        connection.cancelExpiry = whenExpired(viewer, (why) => expire(connection, why), options.tokens.revocations);
        return true;
      },
      onSubscribe: async (ctx, id, payload) => {
        const connection = connections.get(ctx.extra.socket);
        if (!connection || closing) return [new ShopError('SUBGRAPH_UNAVAILABLE', 'The router is shutting down; subscribe again.')];
        if (connection.expired) return [unauthenticated(TOKEN_EXPIRED)];
        // graphql-ws has already registered this id, so the count includes it.
        if (Object.keys(ctx.subscriptions).length > limits.maxSubscriptionsPerConnection) {
          return [new ShopError('SUBSCRIPTION_LIMIT', `A connection may hold at most ${limits.maxSubscriptionsPerConnection} subscriptions; complete one first.`)];
        }
        let resolved: ResolvedDocument | null = null;
        try {
          resolved = (await options.documents?.resolve(payload, connection.client)) ?? null;
        } catch (error) {
          if (error instanceof ShopError) return [error];
          throw error;
        }
        let document: DocumentNode;
        try {
          document = parse(resolved?.query ?? payload.query);
        } catch (error) {
          const syntax = error as GraphQLError;
          return [new GraphQLError(syntax.message, { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })];
        }
        let removed: RemovalTree | null = null;
        if (options.guard) {
          // The same guard as over HTTP, after validation and before planning: limits, what the
          // caller may see, cost. A refusal opens nothing upstream.
          const invalid = validate(planner.apiSchema, document);
          if (invalid.length > 0) return invalid.map((e) => new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }));
          const text = resolved?.query ?? payload.query;
          try {
            const { prepared } = options.guard.check({
              document,
              operation: getOperationAST(document, payload.operationName ?? undefined) ?? undefined,
              queryHash: createHash('sha256').update(text).digest('hex'),
              operationName: payload.operationName ?? null,
              schema: planner.apiSchema,
              viewer: connection.viewer,
              variables: payload.variables ?? {},
            });
            if (prepared.filtered.nothingLeft) {
              return restoreRemoved({}, prepared.filtered.removed!).errors.map((e) => new GraphQLError(e.message, { extensions: e.extensions }));
            }
            removed = prepared.filtered.removed;
            document = prepared.filtered.document;
          } catch (error) {
            if (error instanceof GraphQLError) return [error];
            throw error;
          }
        }
        const planned = planner.plan(document, payload.operationName ?? undefined, payload.variables ?? {});
        if (Array.isArray(planned)) return planned as GraphQLError[];
        resolved?.register?.().catch((err: unknown) => connection.logger.warn({ err }, 'APQ registration failed'));
        const start: SubscriptionStart = { connection, id, planned: planned as PlannedSubscription, removed };
        const args: ExecutionArgs = { schema: planner.apiSchema, document, contextValue: start, rootValue: null };
        return args;
      },
      subscribe: (args) => {
        const start = args.contextValue as SubscriptionStart;
        let markCompleted = () => {};
        const completed = new Promise<void>((resolve) => (markCompleted = resolve));
        const stream = subscribe(start);
        start.connection.subscriptions.set(start.id, { stream, completed, markCompleted });
        return stream;
      },
      // Only subscriptions reach execution (plan refuses the rest); kept so nothing runs unplanned.
      execute: () => ({ errors: [new ShopError('BAD_REQUEST', 'This WebSocket serves subscriptions; send queries and mutations over HTTP.')] }),
      onNext: (_ctx, id, _payload, _args, result): FormattedExecutionResult => {
        subscriptionPayloads.inc({ service: 'router' });
        const known = formattedResults.get(result);
        if (known) return known;
        let formatted: FormattedExecutionResult = {
          ...(result.errors ? { errors: formatErrors(result.errors) } : {}),
          data: result.data ?? null,
          ...(result.extensions ? { extensions: result.extensions } : {}),
        };
        const removed = (_args.contextValue as SubscriptionStart | undefined)?.removed;
        if (removed && formatted.data) {
          // Results are shared between subscribers: the nulls go into a copy.
          const restored = restoreRemoved(structuredClone(formatted.data) as Record<string, unknown>, removed);
          formatted = { ...formatted, data: restored.data, errors: [...(formatted.errors ?? []), ...restored.errors] };
        }
        const size = Buffer.byteLength(JSON.stringify(formatted));
        if (size > limits.maxEventBytes) {
          logger.warn({ subscriptionId: id, size, limit: limits.maxEventBytes }, 'subscription event too large, replaced by an error');
          const tooLarge = new ShopError('EVENT_TOO_LARGE', `This event is larger than ${limits.maxEventBytes} bytes and was not delivered; select fewer fields.`);
          formatted = { data: null, errors: [{ message: tooLarge.message, extensions: tooLarge.extensions }] };
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
        active.stream.end();
        active.markCompleted();
      },
    },
    wss,
  );

  let closed: Promise<void> | undefined;
  const close = async () => {
    closing = true;
    server.off('upgrade', onUpgrade);
    const within = <T>(work: Promise<T>) => Promise.race([work, new Promise<void>((resolve) => setTimeout(resolve, options.graceMs).unref())]);
    // Ending each stream makes graphql-ws send `complete`, so clients see their subscriptions finish.
    const active = [...connections.values()].flatMap((c) => [...c.subscriptions.values()]);
    for (const subscription of active) subscription.stream.end();
    await within(Promise.all(active.map((s) => s.completed)));
    // `complete` frames are written once the microtasks that send them have run.
    await new Promise((resolve) => setImmediate(resolve));
    const sockets = [...wss.clients];
    const socketsClosed = Promise.all(sockets.map((s) => (s.readyState === WebSocket.CLOSED ? undefined : new Promise((resolve) => s.once('close', resolve)))));
    for (const socket of sockets) socket.close(GOING_AWAY, 'Server shutting down');
    await within(socketsClosed);
    for (const socket of wss.clients) socket.terminate();
    await disposable.dispose();
    logger.info({ subscriptions: active.length, sockets: sockets.length }, 'websockets closed');
  };
  return { close: () => (closed ??= close()) };
}
