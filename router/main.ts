/**
 * The router as its own program, as a container runs it:
 *   npm run router -- --supergraph FILE --port N
 * Subgraph URLs are taken from the supergraph file. Defaults: SUPERGRAPH_PATH, ROUTER_PORT.
 */
import { parseArgs } from 'node:util';
import { accessTokens, runProcess } from '../platform/main';
import { openRevocations } from '../platform/revocations';
import { metricsAccess } from '../platform/metrics';
import { edgeSettingsFrom, readSupergraph, startRouter, subscriptionLimitsFrom } from './router';

void runProcess('router', async (config, logger) => {
  const { values } = parseArgs({
    options: { supergraph: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } },
    strict: true,
  });
  const port = values.port === undefined ? config.ROUTER_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got ${values.port}`);
  // Access tokens of ended sessions are refused here too, as soon as the customer subgraph announces the end.
  const tokens = await accessTokens(config);
  const revocations = await openRevocations(config, logger);
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
    ...edgeSettingsFrom(config),
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
