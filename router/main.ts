/**
 * The router as its own program, as a container runs it:
 *   npm run router -- --supergraph FILE --port N
 * Subgraph URLs are taken from the supergraph file. Defaults: SUPERGRAPH_PATH, ROUTER_PORT.
 */
import { parseArgs } from 'node:util';
import { accessTokens } from '../platform/main';
import { openPubSub } from '../platform/pubsub';
import { revocationsOn } from '../platform/revocations';
import { partnerSettingsFrom } from './partner';
import { metricsAccess } from '../platform/metrics';
import { edgeSettingsFrom, executorSettingsFrom, readSupergraph, startRouter, subscriptionLimitsFrom } from './router';
import { runRouter, workerResponseHeaders } from './workers';

runRouter(async (config, logger) => {
  const { values } = parseArgs({
    options: { supergraph: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } },
    strict: true,
  });
  const port = values.port === undefined ? config.ROUTER_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got ${values.port}`);
  // Access tokens of ended sessions are refused here too, as soon as the customer subgraph announces the end.
  const tokens = await accessTokens(config);
  // One pub/sub for ended sessions and partner API key changes.
  const pubsub = openPubSub(config, logger);
  const revocations = await revocationsOn(config, logger, pubsub, { ownsPubSub: true });
  tokens.useRevocations(revocations);
  const router = await startRouter({
    supergraphSdl: readSupergraph(values.supergraph ?? config.SUPERGRAPH_PATH),
    host: values.host ?? config.HOST,
    port,
    logger,
    tokens,
    maxBodyBytes: config.MAX_BODY_BYTES,
    metrics: metricsAccess(config),
    graceMs: config.SHUTDOWN_GRACE_MS,
    subscriptions: subscriptionLimitsFrom(config),
    responseHeaders: workerResponseHeaders(),
    partners: partnerSettingsFrom(config, pubsub),
    ...edgeSettingsFrom(config),
    ...executorSettingsFrom(config),
  }).catch(async (error: unknown) => {
    await revocations.close();
    throw error;
  });
  // SIGHUP reads the persisted query manifest again; requests keep being served meanwhile.
  const reload = () => void router.reloadDocuments();
  process.on('SIGHUP', reload);
  return {
    stop: async () => {
      process.off('SIGHUP', reload);
      await router.stop();
      await revocations.close();
    },
  };
});
