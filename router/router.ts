import fs from 'node:fs';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import type { GraphQLFormattedError } from 'graphql';
import type { AccessTokens } from '../platform/auth';
import type { Config } from '../platform/config';
import { createErrorFormatter } from '../platform/errors';
import type { Logger } from '../platform/logger';
import { graphqlMetricsPlugin, subgraphRequests, type MetricsAccess } from '../platform/metrics';
import { startService, type RunningService } from '../platform/server';
import type { RouterContext } from './context';
import { SubgraphDataSource } from './data-source';
import { SubscriptionPlanner } from './subscription-plan';
import { attachSubscriptionServer, DEFAULT_SUBSCRIPTION_LIMITS, type SubscriptionLimits } from './subscriptions';

export interface RouterOptions {
  /** Composed supergraph SDL; subgraph URLs come from it unless overridden. */
  supergraphSdl: string;
  /** Per-subgraph URL overrides (tests on free ports, containers). */
  subgraphUrls?: Partial<Record<string, string>>;
  host: string;
  /** 0 picks a free port. */
  port: number;
  logger: Logger;
  /** Verifies tokens on WebSocket `connection_init`; HTTP requests carry theirs to the subgraphs. */
  tokens: AccessTokens;
  maxBodyBytes: number;
  graceMs: number;
  /** WebSocket subscription limits; defaults in DEFAULT_SUBSCRIPTION_LIMITS (incoming messages: maxBodyBytes). */
  subscriptions?: Partial<SubscriptionLimits>;
  /** Who may read `/metrics`; default open. */
  metrics?: MetricsAccess;
}

export interface RunningRouter extends RunningService {
  /** Requests sent to each subgraph since start (batching tests, metrics). */
  subgraphFetches: Map<string, number>;
}

/** Errors the gateway raises for a subgraph's reply: mapped onto the registry, details masked. */
function routerErrorFormatter(logger: Logger) {
  const format = createErrorFormatter(logger);
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const result = format(formatted, error);
    const { serviceName: _service, ...extensions } = (result.extensions ?? {}) as Record<string, unknown>;
    return { ...result, extensions };
  };
}

/** The router: one graph over all subgraphs, served with Apollo Gateway's query planner. */
export async function startRouter(options: RouterOptions): Promise<RunningRouter> {
  const logger = options.logger.child({ component: 'router' });
  const subgraphFetches = new Map<string, number>();
  const countFetch = (name: string) => {
    subgraphFetches.set(name, (subgraphFetches.get(name) ?? 0) + 1);
    subgraphRequests.inc({ subgraph: name });
  };
  // One data source per subgraph, shared by queries and by the entity fetches of subscription events.
  const dataSources = new Map<string, SubgraphDataSource>();
  const dataSourceFor = (name: string, url: string) => {
    let source = dataSources.get(name);
    if (!source) {
      source = new SubgraphDataSource(name, options.subgraphUrls?.[name] ?? url, logger, countFetch);
      dataSources.set(name, source);
    }
    return source;
  };
  const gateway = new ApolloGateway({
    supergraphSdl: options.supergraphSdl,
    buildService: ({ name, url }) => dataSourceFor(name, url!),
    logger,
  });
  const planner = new SubscriptionPlanner(options.supergraphSdl, options.subgraphUrls);
  for (const [name, url] of planner.subgraphUrls) dataSourceFor(name, url);
  // Every subgraph has its data source now; the gateway's buildService finds the same ones.
  const serviceMap = Object.fromEntries(dataSources);
  const formatError = routerErrorFormatter(logger);
  let loaded = false;
  gateway.onSchemaLoadOrUpdate(() => {
    loaded = true;
  });
  const apollo = new ApolloServer<RouterContext>({
    gateway,
    formatError,
    includeStacktraceInErrorResponses: false,
    // The process owns shutdown (platform/main.ts): stop in reverse order, exactly once.
    stopOnTerminationSignals: false,
    logger,
    plugins: [graphqlMetricsPlugin<RouterContext>('router')],
  });
  const service = await startService<RouterContext>({
    apollo,
    logger,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    host: options.host,
    port: options.port,
    stores: [],
    ready: async () => loaded,
    maxBodyBytes: options.maxBodyBytes,
    graceMs: options.graceMs,
    onServer: (server) =>
      attachSubscriptionServer(server, {
        planner,
        tokens: options.tokens,
        services: () => serviceMap,
        formatError,
        limits: { ...DEFAULT_SUBSCRIPTION_LIMITS, maxMessageBytes: options.maxBodyBytes, ...options.subscriptions },
        graceMs: options.graceMs,
        logger,
      }),
    context: async (req, requestId) => ({
      requestId,
      headers: {
        authorization: req.headers.authorization,
      },
      logger: logger.child({ requestId }),
    }),
  });
  return { ...service, subgraphFetches };
}

/** The subscription limits the configuration sets. */
export function subscriptionLimitsFrom(config: Config): Partial<SubscriptionLimits> {
  return {
    allowedOrigins: config.ALLOWED_ORIGINS,
    initTimeoutMs: config.SUBSCRIPTION_INIT_TIMEOUT_MS,
    maxSubscriptionsPerConnection: config.SUBSCRIPTIONS_PER_CONNECTION,
    maxEventBytes: config.SUBSCRIPTION_MAX_EVENT_BYTES,
  };
}

export function readSupergraph(file: string): string {
  return fs.readFileSync(file, 'utf8');
}
