/**
 * The whole shop in one process: six subgraphs and the router, each subgraph on its
 * own store (one embedded PostgreSQL, a schema each, unless a URL says otherwise).
 * `npm start` runs it on ports 4000–4006; tests run it on free ports.
 */
import { SUBGRAPHS, type SubgraphName } from '../schema/subgraphs';
import type { Logger } from '../platform/logger';
import type { RunningService } from '../platform/server';
import { startSubgraph, type SeedOptions, type SubgraphDefinition, type SubgraphDeps, type SubgraphFactory } from '../platform/subgraph';
import { seedSubgraph } from '../platform/main';
import type { RequestContext } from '../platform/context';
import { startRouter, type RunningRouter } from '../router/router';
import { createCustomerSubgraph } from '../subgraphs/customer/subgraph';
import { createProductSearchSubgraph } from '../subgraphs/product-search/subgraph';
import { createInventorySubgraph } from '../subgraphs/inventory/subgraph';
import { createOrderSubgraph } from '../subgraphs/order/subgraph';
import { createPaymentSubgraph } from '../subgraphs/payment/subgraph';
import { createRecommendationSubgraph } from '../subgraphs/recommendation/subgraph';

/** How each subgraph of the shop is built; each seeds its own part of the demo shop. */
const FACTORIES: Record<SubgraphName, SubgraphFactory> = {
  customer: createCustomerSubgraph,
  'product-search': createProductSearchSubgraph,
  inventory: createInventorySubgraph,
  order: createOrderSubgraph,
  payment: createPaymentSubgraph,
  recommendation: createRecommendationSubgraph,
};

export interface ShopOptions {
  deps: SubgraphDeps;
  host: string;
  /** 0 picks a free port. */
  routerPort: number;
  /** Port of each subgraph; 0 picks a free one. */
  subgraphPorts: Record<SubgraphName, number>;
  /** The composed supergraph the router serves. */
  supergraphSdl: string;
  /** Seed the demo shop into stores that are empty. */
  seed?: SeedOptions;
  maxBodyBytes: number;
  graceMs: number;
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

  const stopAll = async () => {
    await router?.stop();
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
      });
      started.set(name, { service, definition });
      deps.peers.set(name, service.url);
    }

    router = await startRouter({
      supergraphSdl: options.supergraphSdl,
      subgraphUrls: Object.fromEntries([...started].map(([name, { service }]) => [name, service.url])),
      host: options.host,
      port: options.routerPort,
      logger: deps.logger,
      maxBodyBytes: options.maxBodyBytes,
      graceMs: options.graceMs,
    });
  } catch (error) {
    await stopAll().catch(() => {});
    throw error;
  }

  let stopping: Promise<void> | undefined;
  return { router, subgraphs: started, stop: () => (stopping ??= stopAll()) };
}
