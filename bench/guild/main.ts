/**
 * The four subgraphs of The Guild's benchmark in one process, as `bench/gateway.ts` starts
 * them: it reports their URLs over IPC (`{kind: 'listening', urls}`) and answers
 * `'requests'` with the requests each subgraph has received so far. It stops on SIGTERM,
 * SIGINT, or when the benchmark that started it is gone.
 *
 *   node --import tsx bench/guild/main.ts [--data-dir ../shared/bench/guild]
 */
import { parseArgs } from 'node:util';
import { GUILD_DATA_DIR, readGuildScenario, startGuildSubgraphs } from './subgraphs';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'data-dir': { type: 'string', default: GUILD_DATA_DIR } }, strict: true });
  const servers = await startGuildSubgraphs(readGuildScenario(values['data-dir']).data);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void servers.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
  process.on('message', (message: unknown) => {
    if (message === 'requests') process.send?.({ kind: 'requests', requests: servers.requests() });
  });
  if (process.send) process.send({ kind: 'listening', urls: servers.urls });
  else process.stdout.write(`${JSON.stringify({ msg: 'listening', urls: servers.urls })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
