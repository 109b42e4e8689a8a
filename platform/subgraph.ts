import fs from 'node:fs';
import path from 'node:path';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { parse, type DocumentNode } from 'graphql';
import type { SubgraphName } from '../schema/subgraphs';
import type { DemoShop } from './demo-shop-types';
import type { AccessTokens } from './auth';
import type { Config } from './config';
import { baseContext, type RequestContext } from './context';
import { openDatabase, type Database, type EmbeddedPostgres } from './db';
import { createErrorFormatter } from './errors';
import type { EventBus } from './events';
import type { Logger } from './logger';
import type { PubSub } from './pubsub';
import { attachSubgraphSubscriptions } from './subscriptions';
import { graphqlMetricsPlugin, type MetricsAccess } from './metrics';
import type { HttpRoute } from './http';
import { startService, type RunningService, type StoreHandle } from './server';

/** What a subgraph is: its schema, resolvers, per-request context and the stores it owns. */
export interface SubgraphDefinition<C extends RequestContext = RequestContext> {
  name: SubgraphName;
  typeDefs: DocumentNode;
  // Resolver maps are typed per subgraph by the generated types; here any map fits.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  resolvers: GraphQLResolverMap<any>;
  /** Adds this request's DataLoaders and services to the base context. */
  context(base: RequestContext): C;
  /** Opened before listening, closed on stop in reverse order. */
  stores: StoreHandle[];
  /**
   * Writes this subgraph's part of the demo shop through its domain service when its
   * store is empty; resolves false when there was data already.
   */
  seed?(options: SeedOptions): Promise<boolean>;
  /** Started after the server listens, stopped before it drains. */
  workers?: Worker[];
  /** Plain HTTP endpoints beside `/graphql`, by path (internal APIs for other processes). */
  routes?: Record<string, HttpRoute>;
}

export interface SeedOptions {
  shop: DemoShop;
  /** Password of every demo account. */
  password: string;
  nodeEnv: string;
}

/** Background work a subgraph runs beside its server: outbox relays, event consumers, sweepers. */
export interface Worker {
  name: string;
  /** Receives domain events: started before, and stopped after, every worker that publishes. */
  consumes?: boolean;
  /** Called once the server listens. */
  start(): void | Promise<void>;
  /** Called before the server drains; finishes in-flight work. */
  stop(): Promise<void>;
}

/**
 * Starts workers so that nothing is published before its consumers listen: consumers
 * first, then the rest. A bus that does not outlive the process (the in-process one)
 * delivers only to groups that have subscribed, so the order matters across every
 * subgraph of a process.
 */
export async function startWorkers(workers: readonly Worker[]): Promise<void> {
  for (const worker of [...workers.filter((w) => w.consumes), ...workers.filter((w) => !w.consumes)]) await worker.start();
}

/** Stops workers the other way round: publishers first, consumers last. Never throws. */
export async function stopWorkers(workers: readonly Worker[], logger: Logger): Promise<void> {
  for (const worker of [...workers.filter((w) => !w.consumes).reverse(), ...workers.filter((w) => w.consumes).reverse()]) {
    await worker.stop().catch((err) => logger.error({ err, worker: worker.name }, 'worker stop failed'));
  }
}

/** Where a subgraph reaches another over HTTP (service to service, not through the router). */
export class PeerDirectory {
  private readonly overrides = new Map<SubgraphName, string>();
  constructor(private readonly config: Config) {}
  url(name: SubgraphName): string {
    return this.overrides.get(name) ?? this.config.subgraphs[name].url;
  }
  /** The embedded shop records where each subgraph actually listens. */
  set(name: SubgraphName, url: string): void {
    this.overrides.set(name, url);
  }
}

/** What a subgraph factory is given: configuration, logging, token keys, the embedded engine, the event bus. */
export interface SubgraphDeps {
  config: Config;
  logger: Logger;
  tokens: AccessTokens;
  /** The process's shared embedded PostgreSQL, opened on first use. */
  embedded(): Promise<EmbeddedPostgres>;
  /** The process's event bus (Redis Streams with REDIS_URL, else in-process), opened on first use. */
  events(): Promise<EventBus>;
  /** The process's live-update pub/sub (Redis with REDIS_URL, else in-process), opened on first use. */
  pubsub(): Promise<PubSub>;
  peers: PeerDirectory;
}

export type SubgraphFactory = (deps: SubgraphDeps) => Promise<SubgraphDefinition<RequestContext>>;

/** Reads a subgraph's `schema.graphql`. */
export function loadTypeDefs(dir: string): DocumentNode {
  return parse(fs.readFileSync(path.join(dir, 'schema.graphql'), 'utf8'));
}

/**
 * Opens a subgraph's PostgreSQL store: the server at `<NAME>_DATABASE_URL` when set,
 * otherwise a schema of the embedded instance. Migrations are applied either way.
 */
export async function openSubgraphDatabase(
  deps: SubgraphDeps,
  name: SubgraphName,
  options: { schema: string; migrationsFolder: string },
): Promise<Database> {
  const url = deps.config.subgraphs[name].databaseUrl;
  return openDatabase({
    ...options,
    ...(url ? { url } : { embedded: await deps.embedded() }),
    poolSize: deps.config.DB_POOL_SIZE,
    connectTimeoutMs: deps.config.DB_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: deps.config.DB_STATEMENT_TIMEOUT_MS,
    preparedStatements: deps.config.DB_PREPARED_STATEMENTS,
    logger: deps.logger.child({ store: options.schema }),
  });
}

export interface SubgraphRuntime {
  host: string;
  port: number;
  tokens: AccessTokens;
  logger: Logger;
  maxBodyBytes: number;
  graceMs: number;
  /** Who may read `/metrics`; default open. */
  metrics?: MetricsAccess;
  /** false: the caller starts and stops the definition's workers (with other subgraphs' ones). */
  ownWorkers?: boolean;
}

/**
 * Serves a subgraph over HTTP with `/graphql`, `/health` and `/ready`; a schema with a
 * Subscription type is also served over `graphql-ws` on `/graphql`, with the same token
 * verification and per-request context as HTTP.
 */
export async function startSubgraph<C extends RequestContext>(
  definition: SubgraphDefinition<C>,
  runtime: SubgraphRuntime,
): Promise<RunningService> {
  const logger = runtime.logger.child({ subgraph: definition.name });
  const schema = buildSubgraphSchema([{ typeDefs: definition.typeDefs, resolvers: definition.resolvers }]);
  const formatError = createErrorFormatter(logger);
  const apollo = new ApolloServer<C>({
    schema,
    formatError,
    includeStacktraceInErrorResponses: false,
    // The process owns shutdown (platform/main.ts): stop in reverse order, exactly once.
    stopOnTerminationSignals: false,
    logger,
    plugins: [
      graphqlMetricsPlugin<C>(definition.name),
      // Apollo's defaults for a subgraph, neither of which the shop uses: cache hints (no field
      // sets one) and federated traces (the router never asks, and they would tell any caller
      // how long each resolver took). Both hook every field's resolution: a list of 20
      // products took more than twice as long with them.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
    ],
  });
  const service = await startService<C>({
    apollo,
    logger,
    ...(runtime.metrics ? { metrics: runtime.metrics } : {}),
    host: runtime.host,
    port: runtime.port,
    stores: definition.stores,
    ...(definition.routes ? { routes: definition.routes } : {}),
    maxBodyBytes: runtime.maxBodyBytes,
    graceMs: runtime.graceMs,
    context: async (req) => definition.context(await baseContext(req, runtime.tokens, logger)),
    ...(schema.getSubscriptionType()
      ? {
          onServer: (server) =>
            attachSubgraphSubscriptions(server, {
              schema,
              tokens: runtime.tokens,
              context: (base) => definition.context(base),
              formatError,
              limits: { maxMessageBytes: runtime.maxBodyBytes },
              graceMs: runtime.graceMs,
              logger,
              service: definition.name,
            }),
        }
      : {}),
  });
  // Several subgraphs in one process start and stop their workers together (embedded/shop.ts).
  if (runtime.ownWorkers === false) return service;
  const workers = definition.workers ?? [];
  try {
    await startWorkers(workers);
  } catch (error) {
    await stopWorkers(workers, logger);
    await service.stop();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    ...service,
    stop: () =>
      (stopping ??= (async () => {
        await stopWorkers(workers, logger);
        await service.stop();
      })()),
  };
}
