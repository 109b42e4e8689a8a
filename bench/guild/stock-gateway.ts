/**
 * Stock `@apollo/gateway` under stock `@apollo/server` (`startStandaloneServer`), as the
 * original benchmark runs it, on one supergraph file: what `bench/gateway.ts` measures the
 * router against. Logs `{"url": …, "msg": "listening"}` on stdout once it listens; stops on
 * SIGTERM or SIGINT.
 *
 *   node --import tsx bench/guild/stock-gateway.ts --supergraph FILE [--port 0] [--host 127.0.0.1]
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { supergraph: { type: 'string' }, port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } },
    strict: true,
  });
  if (!values.supergraph) throw new Error('--supergraph FILE is required');
  const server = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl: fs.readFileSync(values.supergraph, 'utf8') }) });
  const { url } = await startStandaloneServer(server, { listen: { port: Number(values.port), host: values.host } });
  process.stdout.write(`${JSON.stringify({ url, msg: 'listening' })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
