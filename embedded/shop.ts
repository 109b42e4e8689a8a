/**
 * The whole shop in one process: six subgraphs and the router, each subgraph on its
 * own store (one embedded PostgreSQL, a schema each, unless a URL says otherwise).
 * `npm start` runs it on ports 4000–4006; tests run it on free ports.
 */
import { SUBGRAPHS, type SubgraphName } from '../schema/subgraphs';
import type { Logger } from '../platform/logger';
import type { MetricsAccess } from '../platform/metrics';
import type { RunningService } from '../platform/server';
import { startSubgraph, startWorkers, stopWorkers, type SeedOptions, type SubgraphDefinition, type SubgraphDeps, type SubgraphFactory } from '../platform/subgraph';
import { seedSubgraph } from '../platform/main';
import type { RequestContext } from '../platform/context';
import { executorSettingsFrom, startRouter, type RunningRouter } from '../router/router';
import type { SubscriptionLimits } from '../router/subscriptions';
import type { EdgeSettings } from '../router/router';
import { partnerSettingsFrom } from '../router/partner';
import { createCustomerSubgraph } from '../subgraphs/customer/subgraph';
import { createProductSearchSubgraph } from '../subgraphs/product-search/subgraph';
import { createInventorySubgraph } from '../subgraphs/inventory/subgraph';
import { createOrderSubgraph } from '../subgraphs/order/subgraph';
import { demoAdminId, HistoryClock, replayDemoHistory } from '../subgraphs/order/demo-history';
import type { OrderService } from '../subgraphs/order/order-service';
import { createPaymentSubgraph } from '../subgraphs/payment/subgraph';
import { createRecommendationSubgraph } from '../subgraphs/recommendation/subgraph';

/**
 * How each subgraph of the shop is built. Customers, catalog and stock seed their own part
 * of the demo shop; past orders are replayed through checkout once everything runs, placed
 * at their own time by `clock`.
 */
function factories(clock: HistoryClock, built: { orders?: OrderService }): Record<SubgraphName, SubgraphFactory> {
  return {
    customer: createCustomerSubgraph,
    'product-search': createProductSearchSubgraph,
    inventory: createInventorySubgraph,
    order: async (deps) => {
      const definition = await createOrderSubgraph(deps, { now: clock.now });
      built.orders = definition.service;
      return definition;
    },
    payment: createPaymentSubgraph,
    recommendation: createRecommendationSubgraph,
  };
}

export interface ShopOptions {
  deps: SubgraphDeps;
  host: string;
  /** 0 picks a free port. */
  routerPort: number;
  /** Port of each subgraph; 0 picks a free one. */
  subgraphPorts: Record<SubgraphName, number>;
  /** The composed supergraph the router serves. */
  supergraphSdl: string;
  /** Seed the demo shop into stores that are empty, and replay its past orders when no order exists. */
  seed?: SeedOptions;
  maxBodyBytes: number;
  graceMs: number;
  /** Limits of the router's WebSocket subscriptions; defaults otherwise. */
  subscriptions?: Partial<SubscriptionLimits>;
  /** Who may read `/metrics` on every port; default open. */
  metrics?: MetricsAccess;
  /** The router's edge: operation limits, demand control, introspection, persisted operations; defaults otherwise. */
  edge?: EdgeSettings;
}

export interface RunningShop {
  router: RunningRouter;
  subgraphs: Map<SubgraphName, { service: RunningService; definition: SubgraphDefinition<RequestContext> }>;
  /** Stops the router, then the subgraphs in reverse order, then the embedded store. */
  stop(): Promise<void>;
}

export async function startShop(options: ShopOptions): Promise<RunningShop> {
  const { deps } = options;
  const log: Logger = deps.logger.child({ component: 'shop' });
  const definitions = new Map<SubgraphName, SubgraphDefinition<RequestContext>>();
  const started = new Map<SubgraphName, { service: RunningService; definition: SubgraphDefinition<RequestContext> }>();
  let router: RunningRouter | undefined;
  const clock = new HistoryClock();
  const built: { orders?: OrderService } = {};
  const FACTORIES = factories(clock, built);

  // Workers of every subgraph start together, consumers first, and stop publishers first:
  // the in-process bus delivers only to groups that listen at that moment.
  const workers = () => [...definitions.values()].flatMap((d) => d.workers ?? []);
  const stopAll = async () => {
    await router?.stop();
    await stopWorkers(workers(), log);
    for (const name of [...SUBGRAPHS.map((s) => s.name)].reverse()) {
      const entry = started.get(name);
      if (entry) await entry.service.stop();
      else await Promise.all(definitions.get(name)?.stores.map((s) => s.close()) ?? []);
    }
  };

  try {
    for (const { name } of SUBGRAPHS) {
      const definition = await FACTORIES[name](deps);
      definitions.set(name, definition);
      if (options.seed) await seedSubgraph(definition, options.seed, log);
    }

    for (const { name } of SUBGRAPHS) {
      const definition = definitions.get(name)!;
      const service = await startSubgraph(definition, {
        host: options.host,
        port: options.subgraphPorts[name],
        tokens: deps.tokens,
        logger: deps.logger,
        maxBodyBytes: options.maxBodyBytes,
        graceMs: options.graceMs,
        ...(options.metrics ? { metrics: options.metrics } : {}),
        ownWorkers: false,
      });
      started.set(name, { service, definition });
      deps.peers.set(name, service.url);
    }
    await startWorkers(workers());

    if (options.seed && built.orders) {
      const { shop } = options.seed;
      log.info({ orders: shop.orders.length }, 'replaying demo order history through checkout');
      const replayed = await replayDemoHistory({ shop, orders: built.orders, clock, adminId: demoAdminId(shop), logger: log });
      if (replayed === 0) log.info('orders exist; demo order history not replayed');
    }

    router = await startRouter({
      supergraphSdl: options.supergraphSdl,
      subgraphUrls: Object.fromEntries([...started].map(([name, { service }]) => [name, service.url])),
      host: options.host,
      port: options.routerPort,
      logger: deps.logger,
      tokens: deps.tokens,
      maxBodyBytes: options.maxBodyBytes,
      graceMs: options.graceMs,
      ...(options.subscriptions ? { subscriptions: options.subscriptions } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
      ...options.edge,
      ...executorSettingsFrom(deps.config),
      partners: partnerSettingsFrom(deps.config, await deps.pubsub()),
    });
  } catch (error) {
    await stopAll().catch(() => {});
    throw error;
  }

  let stopping: Promise<void> | undefined;
  return { router, subgraphs: started, stop: () => (stopping ??= stopAll()) };
}
