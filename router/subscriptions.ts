import { createHash } from 'node:crypto';
import type http from 'node:http';
import { GraphQLError, type DocumentNode, type ExecutionResult, type GraphQLFormattedError } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { AsyncQueue, QueueOverflowError } from '../platform/async-queue';
import type { AccessTokens } from '../platform/auth';
import { ShopError } from '../platform/errors';
import type { Logger } from '../platform/logger';
import type { Closeable } from '../platform/server';
import { serveSubscriptions, type SubscriberConnection, type SubscriptionLimits } from '../platform/ws-server';
import { restoreRemoved, type RemovalTree } from './auth-filter';
import type { RouterContext } from './context';
import { clientIdentity, type ClientIdentity, type PersistedDocuments } from './documents';
import type { Edge } from './edge';
import { SharedEventRuns, subscriberGroup } from './shared-events';
import type { PlannedSubscription, SubscriptionPlanner } from './subscription-plan';

export { DEFAULT_SUBSCRIPTION_LIMITS, type SubscriptionLimits } from '../platform/ws-server';

/** Events of one subscription waiting to be completed or read before the client counts as too slow. */
const MAX_BACKLOG = 100;

/**
 * Subscribers of one operation, variables and token share each event's completion when its
 * copies arrive within this many ms (they arrive together: one publish reaches every
 * subscriber's upstream at once).
 */
const EVENT_SHARING_WINDOW_MS = 500;
const EVENT_SHARING_MAX_ENTRIES = 10_000;

export interface SubscriptionServerOptions {
  planner: SubscriptionPlanner;
  /** Verifies the token a client sends in `connectionParams` before anything is opened upstream. */
  tokens: AccessTokens;
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

/** `http://h/graphql` → `ws://h/graphql`: every subgraph serves subscriptions on its GraphQL path. */
export function webSocketUrl(httpUrl: string): string {
  const url = new URL(httpUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/** What the router holds for one client connection: the app it says it is, and its upstream connections. */
interface ClientConnection {
  /** The app the client says it is, from `connectionParams` or the upgrade request's headers. */
  client: ClientIdentity;
  /** One graphql-ws connection per subgraph, opened with the client's token on its first subscription there. */
  upstreams: Map<string, Client>;
}

/** How the owning subgraph's stream ended, when it did not complete. */
class UpstreamFailure {
  constructor(readonly reason: unknown) {}
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
 * Serves `graphql-transport-ws` on the HTTP server's `/graphql` (platform/ws-server.ts:
 * origins, tokens, expiry, limits, shutdown). Each subscription goes through the document
 * step and the edge's guard as over HTTP and is planned; its primary fetch opens at the
 * owning subgraph over graphql-ws (with the client's token and a request id in
 * `connectionParams`), and every event is completed with the rest of the plan before it is
 * sent, one event at a time so order is kept.
 */
/** How long an upstream connection stays open with no subscription on it, in ms. */
const UPSTREAM_IDLE_CLOSE_MS = 60_000;

export function attachSubscriptionServer(server: http.Server, options: SubscriptionServerOptions): Closeable {
  const { planner } = options;
  const sharedRuns = new SharedEventRuns({ windowMs: EVENT_SHARING_WINDOW_MS, maxEntries: EVENT_SHARING_MAX_ENTRIES });
  // The hash of each document's text, the guard's cache key: the server keeps one document per text, so each is hashed once.
  const queryHashes = new WeakMap<DocumentNode, string>();
  const queryHashOf = (document: DocumentNode, query: string): string => {
    let hash = queryHashes.get(document);
    if (hash === undefined) {
      hash = createHash('sha256').update(query).digest('hex');
      queryHashes.set(document, hash);
    }
    return hash;
  };

  const upstreamFor = (connection: SubscriberConnection<ClientConnection>, subgraph: string): Client => {
    const { upstreams } = connection.state;
    let client = upstreams.get(subgraph);
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
        // Kept open a while after the client's last subscription there ends: a client that
        // watches one order after another (an app after each checkout) reuses one connection
        // instead of a handshake and a token check per subscription. It closes with the client.
        lazyCloseTimeout: UPSTREAM_IDLE_CLOSE_MS,
        // A retried upstream would silently miss events; the client resubscribes instead.
        retryAttempts: 0,
        on: { error: (err) => connection.logger.warn({ err, subgraph }, 'subgraph websocket failed') },
      });
      upstreams.set(subgraph, client);
    }
    return client;
  };

  /** Opens the primary at its subgraph; its events wait in a bounded queue until the client takes each, completed. */
  const open = (connection: SubscriberConnection<ClientConnection>, id: string, planned: PlannedSubscription) => {
    const subgraph = planned.primary.serviceName;
    const context: RouterContext = {
      requestId: connection.requestId,
      headers: { authorization: connection.authorization },
      viewer: connection.viewer,
      logger: connection.logger.child({ subscriptionId: id }),
    };
    const group = subscriberGroup(planned.operationKey, planned.variables, connection.authorization);
    const events = new AsyncQueue<ExecutionResult>({
      capacity: MAX_BACKLOG,
      overflow: 'fail',
      onOverflow: () => context.logger.warn({ subgraph }, 'subscription dropped: events arrive faster than the client reads them'),
    });
    const unsubscribe = upstreamFor(connection, subgraph).subscribe(planner.primaryRequest(planned), {
      next: (event) => void events.push(event as ExecutionResult),
      error: (reason) => {
        context.logger.warn({ err: reason instanceof Error ? reason : undefined, subgraph }, 'subgraph subscription failed');
        events.end(new UpstreamFailure(reason));
      },
      complete: () => events.end(),
    });
    return {
      events,
      run: (event: ExecutionResult) => sharedRuns.run(group, event, () => planner.runEvent(planned, event, context)),
      recover: (failure: unknown): ExecutionResult => {
        if (failure instanceof QueueOverflowError) {
          return { errors: [new ShopError('SUBGRAPH_UNAVAILABLE', 'Events arrived faster than they could be delivered; subscribe again.')] };
        }
        if (failure instanceof UpstreamFailure) return { errors: asErrors(failure.reason, subgraph) };
        throw failure;
      },
      release: unsubscribe,
    };
  };

  return serveSubscriptions<ClientConnection>(server, {
    service: 'router',
    schema: planner.apiSchema,
    tokens: options.tokens,
    formatError: options.formatError,
    limits: options.limits,
    graceMs: options.graceMs,
    logger: options.logger,
    connect: (param) => ({ client: clientIdentity(param), upstreams: new Map() }),
    // Upstream connections carry the client's token: they close with it.
    disconnect: ({ upstreams }) => {
      for (const client of upstreams.values()) void client.dispose();
      upstreams.clear();
    },
    ...(options.documents ? { document: (payload, connection) => options.documents!.resolve(payload, connection.state.client) } : {}),
    accept: ({ connection, id, document, operation, operationName, variables, query }) => {
      let allowed = { document, removed: null as RemovalTree | null };
      if (options.guard) {
        // The same guard as over HTTP, after validation and before planning: limits, what the
        // caller may see, cost. A refusal opens nothing upstream.
        try {
          const { prepared } = options.guard.check({
            document,
            operation,
            queryHash: queryHashOf(document, query),
            operationName: operationName ?? null,
            schema: planner.apiSchema,
            viewer: connection.viewer,
            variables,
          });
          if (prepared.filtered.nothingLeft) {
            return restoreRemoved({}, prepared.filtered.removed!).errors.map((e) => new GraphQLError(e.message, { extensions: e.extensions }));
          }
          allowed = prepared.filtered;
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
      }
      const planned = planner.plan(allowed.document, operationName, variables);
      if (Array.isArray(planned)) return planned as readonly GraphQLError[];
      const { removed } = allowed;
      return {
        open: async () => open(connection, id, planned as PlannedSubscription),
        // Fields the guard removed for this caller: each event gets them back as nulls with their errors.
        ...(removed
          ? {
              shape: (formatted) => {
                if (!formatted.data) return formatted;
                // Results are shared between subscribers: the nulls go into a copy.
                const restored = restoreRemoved(structuredClone(formatted.data) as Record<string, unknown>, removed);
                return { ...formatted, data: restored.data, errors: [...(formatted.errors ?? []), ...restored.errors] };
              },
            }
          : {}),
      };
    },
  });
}
