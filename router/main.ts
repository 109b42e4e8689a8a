/**
 * The router as its own program, as a container runs it:
 *   npm run router -- --supergraph FILE --port N
 * Subgraph URLs are taken from the supergraph file. Defaults: SUPERGRAPH_PATH, ROUTER_PORT.
 */
import { parseArgs } from 'node:util';
import { startConfiguredRouter } from './configured';
import { partnerSettingsFrom } from './partner';
import { runRouter, workerResponseHeaders } from './workers';

runRouter(async (config, logger) => {
  const { values } = parseArgs({
    options: { supergraph: { type: 'string' }, port: { type: 'string' }, host: { type: 'string' } },
    strict: true,
  });
  const port = values.port === undefined ? config.ROUTER_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be a port number, got ${values.port}`);
  const responseHeaders = workerResponseHeaders();
  const { router, stop } = await startConfiguredRouter(config, logger, {
    ...(values.supergraph ? { supergraph: values.supergraph } : {}),
    ...(values.host ? { host: values.host } : {}),
    port,
    ...(responseHeaders ? { responseHeaders } : {}),
    partners: (pubsub) => partnerSettingsFrom(config, pubsub),
  });
  // SIGHUP reads the persisted query manifest again; requests keep being served meanwhile.
  const reload = () => void router.reloadDocuments();
  process.on('SIGHUP', reload);
  return {
    stop: async () => {
      process.off('SIGHUP', reload);
      await stop();
    },
  };
});
