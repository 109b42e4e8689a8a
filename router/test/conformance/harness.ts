/**
 * The conformance suite's two gateways over one set of library subgraphs: stock
 * `@apollo/gateway` under stock `@apollo/server`, and the router as deployed (`startRouter`,
 * its guard on with the default limits). Both are reached over HTTP and given the same
 * supergraph.
 */
import { composeServices } from '@apollo/composition';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { AccessTokens, generateTokenKeys } from '../../../platform/auth';
import { silentLogger } from '../../../platform/logger';
import { startRouter, type RunningRouter } from '../../router';
import { Library, librarySubgraphs, type SubgraphName } from './library';
import { SubgraphServer, type Fault } from './subgraph-server';

/** One request as a client sends it. */
export interface Request {
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
}

/** One error as the suite compares it. */
export interface ComparedError {
  message: string;
  path?: (string | number)[];
  code?: string;
}

/** A gateway's HTTP answer, parsed. */
export interface Answer {
  status: number;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
    extensions?: Record<string, unknown>;
  };
}

export interface Harness {
  library: Library;
  subgraphs: Map<SubgraphName, SubgraphServer>;
  supergraphSdl: string;
  stockUrl: string;
  routerUrl: string;
  /** Sends `request` to `url` with the library as it starts and the given subgraphs failing. */
  send(url: string, request: Request, faults?: Partial<Record<SubgraphName, Fault>>): Promise<Answer>;
  stop(): Promise<void>;
}

/** Starts the library's subgraphs and both gateways over them. */
export async function startHarness(): Promise<Harness> {
  const library = new Library();
  const logger = silentLogger();
  const subgraphs = new Map<SubgraphName, SubgraphServer>();
  let stock: ApolloServer | undefined;
  let router: RunningRouter | undefined;
  const stop = async () => {
    await router?.stop();
    await stock?.stop();
    await Promise.all([...subgraphs.values()].map((s) => s.stop()));
  };
  try {
    const definitions = librarySubgraphs(library);
    for (const { name, schema } of definitions) subgraphs.set(name, await SubgraphServer.start(name, schema));
    const composed = composeServices(definitions.map(({ name, typeDefs }) => ({ name, typeDefs, url: subgraphs.get(name)!.url })));
    if (composed.errors) throw new Error(`composition failed:\n${composed.errors.map((e) => e.message).join('\n')}`);
    const supergraphSdl = composed.supergraphSdl;

    // Stock: nothing configured but the supergraph (the subgraph URLs are in it) and silence.
    stock = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl, logger }), logger });
    const { url: stockUrl } = await startStandaloneServer(stock, { listen: { host: '127.0.0.1', port: 0 } });

    const tokens = new AccessTokens(await generateTokenKeys(), { issuer: 'conformance', ttlSeconds: 600 });
    // The guard's limits as deployed: the costliest case is priced about 1100 of the 5000 allowed.
    router = await startRouter({
      supergraphSdl,
      host: '127.0.0.1',
      port: 0,
      logger,
      tokens,
      maxBodyBytes: 1024 * 1024,
      graceMs: 500,
    });

    const send = async (url: string, request: Request, faults: Partial<Record<SubgraphName, Fault>> = {}): Promise<Answer> => {
      library.reset();
      const failing = Object.entries(faults) as [SubgraphName, Fault][];
      for (const [name, fault] of failing) await subgraphs.get(name)!.setFault(fault);
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(request),
        });
        return { status: response.status, body: (await response.json()) as Answer['body'] };
      } finally {
        for (const [name] of failing) await subgraphs.get(name)!.setFault(null);
      }
    };
    return { library, subgraphs, supergraphSdl, stockUrl, routerUrl: router.url, send, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
