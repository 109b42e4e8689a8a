import fs from 'node:fs';
import type http from 'node:http';
import { ApolloServer } from '@apollo/server';
import type { GraphQLFormattedError } from 'graphql';
import type { AccessTokens } from '../platform/auth';
import type { Config } from '../platform/config';
import { createErrorFormatter } from '../platform/errors';
import type { Logger } from '../platform/logger';
import { clientMetricsPlugin, graphqlMetricsPlugin, subgraphRequests, type MetricsAccess } from '../platform/metrics';
import { startService, type RunningService } from '../platform/server';
import type { RouterContext } from './context';
import { RouterExecutor } from './executor';
import { clientAddressOf } from './client-address';
import { CostCalculator, DEFAULT_LIST_SIZE } from './cost';
import { Edge, tokenLimitError, type QueryCost } from './edge';
import { DEFAULT_OPERATION_LIMITS, type OperationLimits } from './operation-limits';
import { documentSettingsFrom, openPersistedDocuments, type DocumentSettings } from './documents';
import { openPartnerEndpoint, PARTNER_GRAPHQL_PATH, type PartnerEndpoint, type PartnerSettings } from './partner';
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
  /** Operation limits; defaults in DEFAULT_OPERATION_LIMITS. */
  limits?: Partial<OperationLimits>;
  /** Prices operations (`extensions.cost`); default a CostCalculator over the supergraph. */
  cost?: QueryCost;
  /** List size assumed for list fields without `@listSize` by the default calculator; default 10. */
  defaultListSize?: number;
  /** Largest estimated cost an operation may have; default 5000. */
  maxCost?: number;
  /** Answer introspection; default true. */
  introspection?: boolean;
  /** Leave schema details ("Did you mean …" suggestions) out of validation errors; default false. */
  hideSchemaDetails?: boolean;
  /**
   * Proxies in front of the router that append the address they received from to
   * X-Forwarded-For (load balancers); the client's address is read that many entries from the
   * right. Default 0: the socket's peer.
   */
  trustedProxyHops?: number;
  /**
   * Run the edge's guard (limits, auth filtering, cost); default true. Benchmarks turn it off
   * to measure what it costs; nothing a deployment configures does.
   */
  guard?: boolean;
  /** Headers set on every HTTP response (`x-router-worker` when ROUTER_WORKERS runs several); default none. */
  responseHeaders?: Record<string, string>;
  /** Trusted documents, the safelist and APQ (router/documents.ts); default: no manifest, no safelist, APQ in memory. */
  documents?: DocumentSettings;
  /** Serve partners at `/partner/graphql` (router/partner.ts) when the graph has a customer subgraph; default off. */
  partners?: PartnerSettings;
  /** Connections kept open to each subgraph at most; default 128. */
  subgraphConnections?: number;
  /** Longest wait for a subgraph's answer, in ms; default 30000. */
  subgraphTimeoutMs?: number;
  /** Share one subgraph request among identical queries in flight (same credentials); default true. */
  deduplicateSubgraphRequests?: boolean;
}

/** Sets `headers` on every HTTP response the server sends, before its handler runs. */
function withResponseHeaders(server: http.Server, headers: Record<string, string> | undefined): http.Server {
  const entries = Object.entries(headers ?? {});
  if (entries.length) server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => entries.forEach(([name, value]) => res.setHeader(name, value)));
  return server;
}

export interface RunningRouter extends RunningService {
  /** Requests sent to each subgraph since start (batching tests, metrics). */
  subgraphFetches: Map<string, number>;
  /** Reads the persisted query manifest again (SIGHUP); a bad file keeps the current one and says false. */
  reloadDocuments(): Promise<boolean>;
}

/**
 * The supergraph as the gateway plans it. Its authorization features (`@authenticated`,
 * `@requiresScopes`) are marked `for: SECURITY`, which stock Apollo Gateway refuses since it
 * cannot enforce them; this router enforces them before planning (router/edge.ts), so the
 * planner is given the graph with that mark lifted and everything else as composed.
 */
export function plannerSupergraph(supergraphSdl: string): string {
  return supergraphSdl.replace(
    /(@link\(url: "https:\/\/specs\.apollo\.dev\/(?:authenticated|requiresScopes)\/v[\d.]+"), for: SECURITY\)/g,
    '$1)',
  );
}

/** Errors the gateway raises for a subgraph's reply: mapped onto the registry, details masked. */
function routerErrorFormatter(logger: Logger) {
  const format = createErrorFormatter(logger);
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const tokens = tokenLimitError(formatted, error);
    if (tokens) return tokens;
    const result = format(formatted, error);
    const { serviceName: _service, ...extensions } = (result.extensions ?? {}) as Record<string, unknown>;
    return { ...result, extensions };
  };
}

/** The router: one graph over all subgraphs, planned by Apollo's query planner and run by its own executor. */
export async function startRouter(options: RouterOptions): Promise<RunningRouter> {
  const logger = options.logger.child({ component: 'router' });
  const subgraphFetches = new Map<string, number>();
  const countFetch = (name: string) => {
    subgraphFetches.set(name, (subgraphFetches.get(name) ?? 0) + 1);
    subgraphRequests.inc({ subgraph: name });
  };
  const plannedSdl = plannerSupergraph(options.supergraphSdl);
  const limits = { ...DEFAULT_OPERATION_LIMITS, ...options.limits };
  const cost = options.cost ?? new CostCalculator(options.supergraphSdl, { defaultListSize: options.defaultListSize ?? DEFAULT_LIST_SIZE });
  const edge = new Edge({ supergraphSdl: options.supergraphSdl, limits, maxCost: options.maxCost ?? 5000, cost });
  const clientAddress = (req: http.IncomingMessage) => clientAddressOf(req, options.trustedProxyHops ?? 0);
  const executor = new RouterExecutor({
    supergraphSdl: plannedSdl,
    ...(options.subgraphUrls ? { subgraphUrls: options.subgraphUrls } : {}),
    ...(options.subgraphConnections ? { connections: options.subgraphConnections } : {}),
    ...(options.subgraphTimeoutMs ? { timeoutMs: options.subgraphTimeoutMs } : {}),
    deduplicate: options.deduplicateSubgraphRequests ?? true,
    onFetch: countFetch,
    logger,
  });
  const gateway = executor.gateway(plannedSdl);
  const planner = new SubscriptionPlanner(executor);
  const formatError = routerErrorFormatter(logger);
  let loaded = false;
  gateway.onSchemaLoadOrUpdate(() => {
    loaded = true;
  });
  const documents = await openPersistedDocuments(options.documents ?? {}, logger);
  const customerUrl = planner.subgraphUrls.get('customer');
  let partner: PartnerEndpoint | undefined;
  if (options.partners && customerUrl) {
    partner = await openPartnerEndpoint({
      supergraphSdl: options.supergraphSdl,
      executor: executor.execute,
      customerUrl,
      settings: options.partners,
      edge: { supergraphSdl: options.supergraphSdl, limits, maxCost: options.maxCost ?? 5000, cost },
      formatError,
      introspection: options.introspection ?? true,
      hideSchemaDetails: options.hideSchemaDetails ?? false,
      maxTokens: limits.tokens,
      logger,
    }).catch(async (error: unknown) => {
      await documents.close();
      throw error;
    });
  } else if (options.partners) {
    logger.info('no customer subgraph in the graph: no partner endpoint');
  }
  const apollo = new ApolloServer<RouterContext>({
    gateway,
    // The document step (router/documents.ts) does APQ before Apollo Server sees the request.
    persistedQueries: false,
    // The apps name themselves in a header browsers cannot send without a preflight, so it guards GET as well.
    csrfPrevention: { requestHeaders: ['x-apollo-operation-name', 'apollo-require-preflight', 'apollographql-client-name'] },
    formatError,
    includeStacktraceInErrorResponses: false,
    introspection: options.introspection ?? true,
    hideSchemaDetailsFromClientErrors: options.hideSchemaDetails ?? false,
    // graphql-js stops parsing at the limit, so an oversized document never becomes a syntax tree.
    parseOptions: { maxTokens: limits.tokens },
    // The process owns shutdown (platform/main.ts): stop in reverse order, exactly once.
    stopOnTerminationSignals: false,
    logger,
    plugins: [
      graphqlMetricsPlugin<RouterContext>('router'),
      documents.plugin(),
      ...(options.guard === false ? [] : [edge.plugin()]),
      // After the guard: it reads the cost the guard put on the response.
      clientMetricsPlugin<RouterContext>(),
    ],
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
    beforeApollo: (request, req) => documents.http(request, req),
    onServer: (server) =>
      attachSubscriptionServer(withResponseHeaders(server, options.responseHeaders), {
        planner,
        ...(options.guard === false ? {} : { guard: edge }),
        documents,
        tokens: options.tokens,
        formatError,
        limits: { ...DEFAULT_SUBSCRIPTION_LIMITS, maxMessageBytes: options.maxBodyBytes, ...options.subscriptions },
        graceMs: options.graceMs,
        logger,
      }),
    context: async (req, requestId) => ({
      requestId,
      headers: {
        authorization: req.headers.authorization,
        'user-agent': req.headers['user-agent'],
      },
      ...(clientAddress(req) ? { clientAddress: clientAddress(req) } : {}),
      // Verified once here: the guard decides what the caller may see before anything is planned.
      viewer: await options.tokens.viewerFromAuthorization(req.headers.authorization),
      logger: logger.child({ requestId }),
      document: documents.decidedFor(req),
    }),
    ...(partner ? { graphqlEndpoints: { [PARTNER_GRAPHQL_PATH]: partner.endpoint }, routes: partner.routes } : {}),
  }).catch(async (error: unknown) => {
    await partner?.close();
    await documents.close();
    throw error;
  });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await service.stop();
      await partner?.close();
      await documents.close();
    })());
  return { ...service, stop, subgraphFetches, reloadDocuments: () => documents.reload() };
}

/** The router's edge settings: operation limits, demand control, production posture. */
export type EdgeSettings = Pick<RouterOptions, 'limits' | 'maxCost' | 'defaultListSize' | 'introspection' | 'hideSchemaDetails' | 'documents' | 'trustedProxyHops'>;

/** The edge settings the configuration sets. */
export function edgeSettingsFrom(config: Config): EdgeSettings {
  const production = config.NODE_ENV === 'production';
  return {
    limits: {
      depth: config.MAX_DEPTH,
      aliases: config.MAX_ALIASES,
      rootFields: config.MAX_ROOT_FIELDS,
      directives: config.MAX_DIRECTIVES,
      tokens: config.MAX_TOKENS,
    },
    maxCost: config.MAX_OPERATION_COST,
    defaultListSize: config.COST_DEFAULT_LIST_SIZE,
    introspection: config.INTROSPECTION ?? !production,
    hideSchemaDetails: production,
    documents: documentSettingsFrom(config),
    trustedProxyHops: config.TRUSTED_PROXY_HOPS,
  };
}

/** How the router talks to its subgraphs, as the configuration sets it. */
export function executorSettingsFrom(config: Config): Pick<RouterOptions, 'subgraphConnections' | 'subgraphTimeoutMs' | 'deduplicateSubgraphRequests'> {
  return {
    subgraphConnections: config.SUBGRAPH_CONNECTIONS,
    subgraphTimeoutMs: config.SUBGRAPH_TIMEOUT_MS,
    deduplicateSubgraphRequests: config.DEDUPLICATE_SUBGRAPH_REQUESTS,
  };
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
