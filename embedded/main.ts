/**
 * `npm start`: the whole shop in one process on embedded stores under DATA_DIR,
 * seeded with the demo shop on first start. Restarting keeps the data.
 */
import { SUBGRAPHS, type SubgraphName } from '../schema/subgraphs';
import { demoSeedOptions, runProcess, subgraphDeps } from '../platform/main';
import { metricsAccess } from '../platform/metrics';
import { edgeSettingsFrom, readSupergraph, subscriptionLimitsFrom } from '../router/router';
import { startShop } from './shop';

void runProcess('shop', async (config, logger) => {
  const deps = await subgraphDeps(config, logger);
  const began = Date.now();
  const seed = demoSeedOptions(config);
  const shop = await startShop({
    deps,
    host: config.HOST,
    routerPort: config.ROUTER_PORT,
    subgraphPorts: Object.fromEntries(SUBGRAPHS.map(({ name }) => [name, config.subgraphs[name].port])) as Record<SubgraphName, number>,
    supergraphSdl: readSupergraph(config.SUPERGRAPH_PATH),
    ...(seed ? { seed } : {}),
    maxBodyBytes: config.MAX_BODY_BYTES,
    metrics: metricsAccess(config),
    subscriptions: subscriptionLimitsFrom(config),
    edge: edgeSettingsFrom(config),
    graceMs: config.SHUTDOWN_GRACE_MS,
  });
  const seconds = ((Date.now() - began) / 1000).toFixed(1);
  const password = config.DEMO_PASSWORD === 'demo-password-1' ? 'demo-password-1' : '(DEMO_PASSWORD)';
  process.stdout.write(
    [
      '',
      `  The shop is open (${seconds}s): ${shop.router.url}`,
      '',
      `  Subgraphs: ${[...shop.subgraphs].map(([name, { service }]) => `${name} ${service.port}`).join(', ')}`,
      `  Demo accounts (password ${password}):`,
      '    admin@demo.shop            admin scope',
      `    customer1@demo.shop … customer${seed ? seed.shop.customers.filter((c) => !c.admin).length : 100}@demo.shop`,
      '',
      `  Try: curl -s ${shop.router.url} -H 'content-type: application/json' \\`,
      `         -d '{"query":"{ searchProducts(query: \\"oak table\\", first: 3) { totalCount edges { node { name price { formatted } availableQuantity } } } }"}'`,
      '',
    ].join('\n') + '\n',
  );
  // SIGHUP reads the persisted query manifest again; requests keep being served meanwhile.
  const reload = () => void shop.router.reloadDocuments();
  process.on('SIGHUP', reload);
  return {
    stop: async () => {
      process.off('SIGHUP', reload);
      await shop.stop();
      await deps.release();
    },
  };
});
