/**
 * The router as benchmarks run it in a process of their own: `startRouter` started as
 * `router/main.ts` starts it, from the environment as deployed (edge settings, access
 * tokens with session revocation, subscription limits, metrics, the executor's settings
 * such as DEDUPLICATE_SUBGRAPH_REQUESTS), in one process (no ROUTER_WORKERS) and without the
 * partner endpoint, which a benchmark's requests to `/graphql` never reach. Logs `listening` with its URL like every service.
 *
 *   node --import tsx bench/router-process.ts --supergraph FILE [--port 0] [--host 127.0.0.1]
 */
import { parseArgs } from 'node:util';
import { accessTokens, runProcess } from '../platform/main';
import { metricsAccess } from '../platform/metrics';
import { openPubSub } from '../platform/pubsub';
import { revocationsOn } from '../platform/revocations';
import { edgeSettingsFrom, executorSettingsFrom, readSupergraph, startRouter, subscriptionLimitsFrom } from '../router/router';

void runProcess('router', async (config, logger) => {
  const { values } = parseArgs({
    options: { supergraph: { type: 'string' }, port: { type: 'string', default: '0' }, host: { type: 'string' } },
    strict: true,
  });
  const tokens = await accessTokens(config);
  const pubsub = openPubSub(config, logger);
  const revocations = await revocationsOn(config, logger, pubsub, { ownsPubSub: true });
  tokens.useRevocations(revocations);
  const router = await startRouter({
    supergraphSdl: readSupergraph(values.supergraph ?? config.SUPERGRAPH_PATH),
    host: values.host ?? config.HOST,
    port: Number(values.port),
    logger,
    tokens,
    maxBodyBytes: config.MAX_BODY_BYTES,
    metrics: metricsAccess(config),
    graceMs: config.SHUTDOWN_GRACE_MS,
    subscriptions: subscriptionLimitsFrom(config),
    ...edgeSettingsFrom(config),
    ...executorSettingsFrom(config),
  }).catch(async (error: unknown) => {
    await revocations.close();
    throw error;
  });
  return {
    stop: async () => {
      await router.stop();
      await revocations.close();
    },
  };
});
