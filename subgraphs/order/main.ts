import { demoSeedOptions, runSubgraph } from '../../platform/main';
import { demoHistoryWorker, HistoryClock } from './demo-history';
import { createOrderSubgraph } from './subgraph';

/**
 * The order subgraph alone, as its container runs it. With SEED_DEMO on and no orders yet,
 * it replays the demo shop's past orders through checkout in the background, once the
 * catalog, inventory and payment answer.
 */
runSubgraph('order', async (deps) => {
  const clock = new HistoryClock();
  const definition = await createOrderSubgraph(deps, { now: clock.now });
  const seed = demoSeedOptions(deps.config);
  if (!seed) return definition;
  const history = demoHistoryWorker({
    shop: seed.shop,
    orders: definition.service,
    clock,
    logger: deps.logger,
    peers: (['product-search', 'inventory', 'payment'] as const).map((name) => deps.peers.url(name)),
  });
  return { ...definition, workers: [...(definition.workers ?? []), history] };
});
