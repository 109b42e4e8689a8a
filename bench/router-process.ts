/**
 * The router as benchmarks run it in a process of their own: started from the environment as
 * deployed, as `router/main.ts` starts it (`startConfiguredRouter`), in one process (no
 * ROUTER_WORKERS) and without the partner endpoint, which a benchmark's requests to
 * `/graphql` never reach. Logs `listening` with its URL like every service.
 *
 *   node --import tsx bench/router-process.ts --supergraph FILE [--port 0] [--host 127.0.0.1]
 */
import { parseArgs } from 'node:util';
import { runProcess } from '../platform/main';
import { startConfiguredRouter } from '../router/configured';

void runProcess('router', async (config, logger) => {
  const { values } = parseArgs({
    options: { supergraph: { type: 'string' }, port: { type: 'string', default: '0' }, host: { type: 'string' } },
    strict: true,
  });
  const { stop } = await startConfiguredRouter(config, logger, {
    ...(values.supergraph ? { supergraph: values.supergraph } : {}),
    ...(values.host ? { host: values.host } : {}),
    port: Number(values.port),
  });
  return { stop };
});
