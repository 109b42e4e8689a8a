import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApolloServer, BaseContext } from '@apollo/server';
import { createGraphQLHttpHandler, type GraphQLHttpOptions } from './http';
import { answersWithin } from './store-unavailable';

/** How long `/ready` waits for each store, in ms: a store that is down must not hold the probe. */
const STORE_READY_TIMEOUT_MS = 2000;

/** Anything a process opens and must close on shutdown. */
export interface Closeable {
  close(): Promise<void>;
}

/** A store as the server sees it: it can say whether it answers, and close. */
export interface StoreHandle extends Closeable {
  ready(): Promise<boolean>;
  /** Statements sent so far (batching tests, metrics). */
  statementCount(): number;
}

export interface RunningService {
  /** `http://host:port/graphql` */
  url: string;
  port: number;
  /** Drains HTTP, stops Apollo, closes what the service owns; safe to call many times. */
  stop(): Promise<void>;
}

export interface ServiceOptions<C extends BaseContext> extends Omit<GraphQLHttpOptions<C>, 'ready'> {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Checked by `/ready`, closed on stop in reverse order. */
  stores: StoreHandle[];
  /** Extra readiness condition besides the stores (the router's schema). */
  ready?: () => Promise<boolean>;
  /** How long stop waits for in-flight requests before cutting connections, in ms. */
  graceMs: number;
  /**
   * Lets other protocols (the router's WebSockets) share the port: called before
   * listening; what it returns is closed on stop after HTTP stops accepting.
   */
  onServer?: (server: http.Server) => Closeable;
}

/** Starts Apollo, then listens: stores are already open, so the first request can be served. */
export async function startService<C extends BaseContext>(options: ServiceOptions<C>): Promise<RunningService> {
  const { apollo, logger, stores } = options;
  // The other endpoints may stand on the first one's schema (the partner contract on the router's gateway).
  const servers = [apollo, ...Object.values(options.graphqlEndpoints ?? {}).map((e) => e.apollo)];
  for (const server of servers) await server.start();
  const handler = createGraphQLHttpHandler({
    ...options,
    ready: async () => {
      const checks = await Promise.all(stores.map((s) => answersWithin(s.ready(), STORE_READY_TIMEOUT_MS)));
      return checks.every(Boolean) && (options.ready ? await options.ready() : true);
    },
  });
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => void handler(req, res));
  server.headersTimeout = 66_000;
  const attached = options.onServer?.(server);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => resolve());
    });
  } catch (error) {
    await attached?.close().catch(() => {});
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const url = `http://${options.host === '0.0.0.0' ? '127.0.0.1' : options.host}:${port}/graphql`;
  logger.info({ url }, 'listening');

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info('stopping');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Upgraded sockets are not HTTP connections: `server.close` waits for them until they close.
      if (attached) await attached.close().catch((err) => logger.error({ err }, 'closing attached protocol failed'));
      const timer = setTimeout(() => server.closeAllConnections(), options.graceMs);
      await closed;
      clearTimeout(timer);
      for (const server of [...servers].reverse()) await server.stop();
      for (const store of [...stores].reverse()) {
        await store.close().catch((err) => logger.error({ err }, 'store close failed'));
      }
      logger.info('stopped');
    })());
  return { url, port, stop };
}

export type { ApolloServer };
