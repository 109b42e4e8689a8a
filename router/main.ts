/**
 * The router as its own program, as a container runs it:
 *   npm run router -- --supergraph FILE --port N
 * Subgraph URLs are taken from the supergraph file. Defaults: SUPERGRAPH_PATH, ROUTER_PORT.
 */
import { parseArgs } from 'node:util';
import { accessTokens, runProcess } from '../platform/main';
import { metricsAccess } from '../platform/metrics';
import { readSupergraph, startRouter, subscriptionLimitsFrom } from './router';

void runProcess('router', async (config, logger) => {
  const { values } = parseArgs({
    options: { supergraph: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } },
    strict: true,
  });
  const port = values.port === undefined ? config.ROUTER_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got ${values.port}`);
  return startRouter({
    supergraphSdl: readSupergraph(values.supergraph ?? config.SUPERGRAPH_PATH),
    host: values.host ?? config.HOST,
    port,
    logger,
    tokens: await accessTokens(config),
    maxBodyBytes: config.MAX_BODY_BYTES,
    metrics: metricsAccess(config),
    graceMs: config.SHUTDOWN_GRACE_MS,
    subscriptions: subscriptionLimitsFrom(config),
  });
});
