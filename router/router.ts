import fs from 'node:fs';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import type { GraphQLFormattedError } from 'graphql';
import { createErrorFormatter } from '../platform/errors';
import type { Logger } from '../platform/logger';
import { startService, type RunningService } from '../platform/server';
import type { RouterContext } from './context';
import { SubgraphDataSource } from './data-source';

export interface RouterOptions {
  /** Composed supergraph SDL; subgraph URLs come from it unless overridden. */
  supergraphSdl: string;
  /** Per-subgraph URL overrides (tests on free ports, containers). */
  subgraphUrls?: Partial<Record<string, string>>;
  host: string;
  /** 0 picks a free port. */
  port: number;
  logger: Logger;
  maxBodyBytes: number;
  graceMs: number;
}

export interface RunningRouter extends RunningService {
  /** Requests sent to each subgraph since start (batching tests, metrics). */
  subgraphFetches: Map<string, number>;
}

/** Errors the gateway raises for a subgraph's reply: mapped onto the registry, details masked. */
function routerErrorFormatter(logger: Logger) {
  const format = createErrorFormatter(logger);
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const result = format(formatted, error);
    const { serviceName: _service, ...extensions } = (result.extensions ?? {}) as Record<string, unknown>;
    return { ...result, extensions };
  };
}

/** The router: one graph over all subgraphs, served with Apollo Gateway's query planner. */
export async function startRouter(options: RouterOptions): Promise<RunningRouter> {
  const logger = options.logger.child({ component: 'router' });
  const subgraphFetches = new Map<string, number>();
  const countFetch = (name: string) => subgraphFetches.set(name, (subgraphFetches.get(name) ?? 0) + 1);
  const gateway = new ApolloGateway({
    supergraphSdl: options.supergraphSdl,
    buildService: ({ name, url }) =>
      new SubgraphDataSource(name, options.subgraphUrls?.[name] ?? url!, logger, countFetch),
    logger,
  });
  let loaded = false;
  gateway.onSchemaLoadOrUpdate(() => {
    loaded = true;
  });
  const apollo = new ApolloServer<RouterContext>({
    gateway,
    formatError: routerErrorFormatter(logger),
    includeStacktraceInErrorResponses: false,
    // The process owns shutdown (platform/main.ts): stop in reverse order, exactly once.
    stopOnTerminationSignals: false,
    logger,
  });
  const service = await startService<RouterContext>({
    apollo,
    logger,
    host: options.host,
    port: options.port,
    stores: [],
    ready: async () => loaded,
    maxBodyBytes: options.maxBodyBytes,
    graceMs: options.graceMs,
    context: async (req, requestId) => ({
      requestId,
      headers: {
        authorization: req.headers.authorization,
      },
      logger: logger.child({ requestId }),
    }),
  });
  return { ...service, subgraphFetches };
}

export function readSupergraph(file: string): string {
  return fs.readFileSync(file, 'utf8');
}
