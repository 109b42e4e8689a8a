import type http from 'node:http';
import { createSourceEventStream, execute, print, type ExecutionArgs, type ExecutionResult, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import { mapSource } from './async-queue';
import type { AccessTokens, Viewer } from './auth';
import type { RequestContext } from './context';
import type { Logger } from './logger';
import type { LiveSubscription } from './pubsub';
import type { Closeable } from './server';
import { DEFAULT_SUBSCRIPTION_LIMITS, serveSubscriptions, type SubscriptionLimits } from './ws-server';

export interface SubgraphSubscriptionOptions<C extends RequestContext> {
  schema: GraphQLSchema;
  tokens: AccessTokens;
  /** Adds the subgraph's loaders and services to a base context, as for an HTTP request. */
  context(base: RequestContext): C;
  /** Formats every error a subscriber receives (registry codes pass, anything else is masked). */
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  /**
   * Limits of the subgraph's WebSockets; defaults in SUBGRAPH_SUBSCRIPTION_LIMITS. Its callers
   * are routers, which hold every subscription of one client connection on one connection here.
   */
  limits?: Partial<SubscriptionLimits>;
  /** How long shutdown waits for subscriptions to complete and sockets to close, in ms. */
  graceMs: number;
  logger: Logger;
  /** The subgraph's name, on its metrics. */
  service: string;
}

/**
 * A subgraph's defaults: the router's, without a limit on subscriptions per connection or on
 * event size. The router enforces both for its clients, and a subgraph stricter than the
 * router would refuse what the router accepted.
 */
export const SUBGRAPH_SUBSCRIPTION_LIMITS: SubscriptionLimits = {
  ...DEFAULT_SUBSCRIPTION_LIMITS,
  maxSubscriptionsPerConnection: Number.POSITIVE_INFINITY,
  maxEventBytes: Number.POSITIVE_INFINITY,
};

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
  return mapSource(subscription, (message) => {
    const value = map(message);
    if (typeof value === 'object' && value !== null && typeof message === 'object' && message !== null) messageOrigins.set(value, message);
    return value;
  });
}

/**
 * Serves `graphql-transport-ws` subscriptions of a subgraph on the HTTP server's `/graphql`
 * (platform/ws-server.ts: tokens, expiry, limits, shutdown). Each event from a resolver's
 * source runs through the selection with a context of its own (fresh DataLoaders, so every
 * event reads current data), once per pub/sub message for every subscriber of the same
 * operation, variables and viewer.
 */
export function attachSubgraphSubscriptions<C extends RequestContext>(server: http.Server, options: SubgraphSubscriptionOptions<C>): Closeable {
  const { schema } = options;
  /**
   * Executions of one message, by operation, variables and viewer: one per message however
   * many subscribers received it (a product watched by a thousand reads its stock once).
   */
  const sharedRuns = new WeakMap<object, Map<string, Promise<ExecutionResult> | ExecutionResult>>();

  return serveSubscriptions<undefined>(server, {
    service: options.service,
    schema,
    tokens: options.tokens,
    formatError: options.formatError,
    limits: { ...SUBGRAPH_SUBSCRIPTION_LIMITS, ...options.limits },
    graceMs: options.graceMs,
    logger: options.logger,
    accept: ({ connection, document, operationName, variables }) => ({
      open: async () => {
        const base = (): RequestContext => ({ requestId: connection.requestId, viewer: connection.viewer, logger: connection.logger });
        const args: ExecutionArgs = { schema, document, operationName: operationName ?? null, variableValues: variables, contextValue: options.context(base()) };
        const source = await createSourceEventStream(args);
        if (!(Symbol.asyncIterator in source)) return source as ExecutionResult;
        const key = `${operationName ?? ''}\0${print(document)}\0${JSON.stringify(variables)}\0${viewerKey(connection.viewer)}`;
        // Each event reads with fresh loaders: one context per event, as one per HTTP request.
        const run = (event: unknown) => execute({ ...args, rootValue: event, contextValue: options.context(base()) });
        return {
          events: source[Symbol.asyncIterator](),
          run: (event: unknown) => {
            const origin = typeof event === 'object' && event !== null ? messageOrigins.get(event) : undefined;
            if (!origin) return run(event);
            let runs = sharedRuns.get(origin);
            if (!runs) sharedRuns.set(origin, (runs = new Map()));
            let result = runs.get(key);
            if (!result) runs.set(key, (result = run(event)));
            return result;
          },
        };
      },
    }),
  });
}
