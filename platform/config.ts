import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { SUBGRAPHS, envPrefix, type SubgraphName } from '../schema/subgraphs';
import { CURRENCY_CODE } from './money';

const flag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const port = z.coerce.number().int().min(0).max(65535);

const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
  .optional();

const base = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  /** pino level; default `info`. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Human-readable logs; default on when stdout is a terminal. */
  LOG_PRETTY: flag.optional(),
  /** Interface every server binds to; default `127.0.0.1` (containers set `0.0.0.0`). */
  HOST: z.string().default('127.0.0.1'),
  /** Where the embedded stores and generated keys live; default `.data`. */
  DATA_DIR: z.string().default('.data'),
  /** Router port; default 4000. */
  ROUTER_PORT: port.default(4000),
  /** Router processes sharing its port (node:cluster); `auto` is one per core; default 1. */
  ROUTER_WORKERS: z
    .union([z.literal('auto'), z.coerce.number().int().min(1).max(64)])
    .default(1)
    .transform((n) => (n === 'auto' ? availableParallelism() : n)),
  /** The composed supergraph the router serves; default `schema/supergraph.graphql`. */
  SUPERGRAPH_PATH: z.string().default('schema/supergraph.graphql'),
  /** Ed25519 private key (PKCS#8 PEM) the customer subgraph signs access tokens with. */
  JWT_PRIVATE_KEY: z.string().optional(),
  /** Ed25519 public key (SPKI PEM) every subgraph verifies access tokens with. */
  JWT_PUBLIC_KEY: z.string().optional(),
  /** `iss` and `aud` of access tokens; default `commerce-supergraph`. */
  JWT_ISSUER: z.string().default('commerce-supergraph'),
  /** Lifetime of an access token in seconds; default 900. */
  ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(30).max(86400).default(900),
  /** Password of every demo account; default `demo-password-1`, refused in production. */
  DEMO_PASSWORD: z.string().min(10, 'must be at least 10 characters, as every account password').default('demo-password-1'),
  /** Seed the demo shop into empty stores; default on. */
  SEED_DEMO: flag.default(true),
  /** How big a demo shop: `full` (2,400 products, 1,200 past orders) or `small` (120, 80), quicker to seed. */
  DEMO_SIZE: z.enum(['full', 'small']).default('full'),
  /** ISO 4217 currency of the catalog; default `USD`. */
  SHOP_CURRENCY: z.string().regex(CURRENCY_CODE, 'must be an ISO 4217 code such as USD').default('USD'),
  /** Redis server for the event bus (Redis Streams); without it events stay in-process. */
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
  /**
   * Bearer token `/metrics` asks for. Without it, metrics are open to whoever reaches the port,
   * except with NODE_ENV=production, where they are then not served at all.
   */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Redis server holding recommendations as sorted sets; without it they live in the subgraph's PostgreSQL store. */
  RECOMMENDATION_REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
  /** Redis server caching catalog products for every product-search replica; without it each process keeps an LRU. */
  PRODUCT_CACHE_REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
  /**
   * How long a cached product lives, in seconds, in product-search and in the order subgraph's
   * price cache (a change of the product drops it sooner); default 300.
   */
  PRODUCT_CACHE_TTL_SECONDS: z.coerce.number().int().min(1).default(300),
  /** Products an in-process cache holds at most (product-search without PRODUCT_CACHE_REDIS_URL, and order's prices); default 10000. */
  PRODUCT_CACHE_MAX_ENTRIES: z.coerce.number().int().min(1).default(10_000),
  /**
   * MongoDB holding customer accounts, sessions and API keys (a replica set: writes that go
   * together use a transaction); without it the customer subgraph uses its PostgreSQL store.
   */
  CUSTOMER_MONGODB_URL: z.string().regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// or mongodb+srv:// URL').optional(),
  /** MongoDB holding the catalog (products, categories, brands); without it the catalog lives in product-search's PostgreSQL store. */
  PRODUCT_MONGODB_URL: z.string().regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// or mongodb+srv:// URL').optional(),
  /** Elasticsearch 8 answering product search; without it search runs on product-search's PostgreSQL store. */
  PRODUCT_ELASTICSEARCH_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** Alias the product search index is read and written through (`npm run reindex` swaps what it points at); default `products`. */
  PRODUCT_ELASTICSEARCH_INDEX: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be a lower-case index name').default('products'),
  /** Connections each process keeps to a MongoDB server at most; default 10. */
  MONGODB_POOL_SIZE: z.coerce.number().int().min(1).max(1000).default(10),
  /** How long a MongoDB or Elasticsearch operation may take (server selection, connect, request), in ms; default 5000. */
  STORE_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(5000),
  /**
   * Token processes show each other on internal endpoints (the routers reading partner API
   * keys from the customer subgraph). Required in production; elsewhere one is generated
   * under DATA_DIR.
   */
  SERVICE_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** How often a router reloads the partner API keys from the customer subgraph, in ms; default 4000. */
  API_KEY_RESYNC_MS: z.coerce.number().int().min(100).default(4000),
  /** How often a router reports when partner API keys were last used, in ms; default 5000. */
  API_KEY_USE_FLUSH_MS: z.coerce.number().int().min(100).default(5000),
  /** Prefix of the Redis stream keys, so several shops can share one Redis; default `shop`. */
  EVENT_STREAM_PREFIX: z.string().regex(/^[\w.-]+$/).default('shop'),
  /**
   * How long a Redis consumer may hold an event before another takes it over, in ms; default 5000.
   * A failed delivery (an event that arrived before the one it depends on) is retried after it too;
   * a handler still running keeps its events (they are touched while it works).
   */
  EVENT_RECLAIM_IDLE_MS: z.coerce.number().int().min(100).default(5_000),
  /** How long an unpaid order keeps its reserved stock, in seconds; default 900. */
  RESERVATION_TTL_SECONDS: z.coerce.number().int().min(1).default(900),
  /** How often inventory looks for expired reservations, in ms; default 5000. */
  RESERVATION_SWEEP_MS: z.coerce.number().int().min(10).default(5000),
  /** Deliveries of a failing event before it is dead-lettered; default 5. */
  EVENT_MAX_DELIVERIES: z.coerce.number().int().min(1).max(100).default(5),
  /**
   * Connections each subgraph keeps to its PostgreSQL server; default 2. Statements that find
   * every connection busy are pipelined onto one, several to a write and to a wake-up of the
   * server: a few busy connections cost the server and the subgraph less than many idle ones.
   * A transaction holds its connection until it ends, and a statement waiting on a lock holds
   * up those pipelined behind it, so at least 2 keep other statements moving while one waits.
   */
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(1000).default(2),
  /** How long opening a PostgreSQL connection may take before the query fails, in ms; default 2000. */
  DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).default(2000),
  /** Longest a statement may run on the PostgreSQL server before it is cancelled, in ms; default 10000. */
  DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /**
   * Named prepared statements on each PostgreSQL connection: a statement is parsed and planned
   * once per connection, not on every call. Turn off only behind a pooler that cannot keep them
   * (PgBouncer in transaction mode before 1.21); default true.
   */
  DB_PREPARED_STATEMENTS: flag.default(true),
  /** How often an outbox relay looks for unpublished events, in ms; default 250. */
  OUTBOX_POLL_MS: z.coerce.number().int().min(10).default(250),
  /**
   * How long a published event stays in its subgraph's outbox, in seconds; default 86400 (a
   * day). At least 600: a relay on the in-process bus publishes again what went out in the
   * 300 s before it started. Unpublished events are never deleted.
   */
  OUTBOX_RETENTION_SECONDS: z.coerce.number().int().min(600).default(86_400),
  /**
   * How long a consumer remembers the messages it processed, so that one delivered again
   * changes nothing, in seconds; default 604800 (a week). It must outlast any redelivery:
   * a consumer that stopped mid-handling has its events reclaimed when a replica next reads.
   */
  PROCESSED_MESSAGE_RETENTION_SECONDS: z.coerce.number().int().min(3600).default(604_800),
  /** How often each subgraph deletes event records past their retention, in seconds; default 60. */
  EVENT_RETENTION_SWEEP_SECONDS: z.coerce.number().int().min(1).default(60),
  /** Largest request body accepted, in bytes; default 1 MiB. */
  MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),
  /** Deepest field nesting an operation may have at the router (introspection not counted); default 15. */
  MAX_DEPTH: z.coerce.number().int().min(1).default(15),
  /** Aliases an operation may use at the router, fragments expanded; default 30. */
  MAX_ALIASES: z.coerce.number().int().min(0).default(30),
  /** Root fields an operation may select at the router; default 20. */
  MAX_ROOT_FIELDS: z.coerce.number().int().min(1).default(20),
  /** Directives an operation may use at the router, fragments expanded; default 50. */
  MAX_DIRECTIVES: z.coerce.number().int().min(0).default(50),
  /** Lexical tokens a document may have; parsing stops there; default 5000. */
  MAX_TOKENS: z.coerce.number().int().min(100).default(5000),
  /** Largest estimated cost (IBM cost directives, as in `extensions.cost`) of an operation; default 5000. */
  MAX_OPERATION_COST: z.coerce.number().int().min(1).default(5000),
  /** List size assumed for list fields without `@listSize` when estimating cost; default 10. */
  COST_DEFAULT_LIST_SIZE: z.coerce.number().int().min(0).default(10),
  /** Answer introspection at the router; default on, except with NODE_ENV=production. */
  INTROSPECTION: flag.optional(),
  /**
   * Proxies in front of the router that append to X-Forwarded-For (a load balancer: 1); the
   * client's address (sign-in throttling, sessions) is read that many entries from the right.
   * Default 0: the router's own socket peer.
   */
  TRUSTED_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  /** Connections the router keeps open to each subgraph at most (kept alive between requests); default 128. */
  SUBGRAPH_CONNECTIONS: z.coerce.number().int().min(1).max(10_000).default(128),
  /** Longest the router waits for a subgraph's answer before the fields it owns fail, in ms; default 30000. */
  SUBGRAPH_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  /**
   * Identical subgraph queries in flight at once (same subgraph, body and credentials) share one
   * request; default on. Mutations are never shared.
   */
  DEDUPLICATE_SUBGRAPH_REQUESTS: flag.default(true),
  /** How long shutdown waits for in-flight requests, in ms; default 10000. */
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  /**
   * Browser origins (`https://shop.example`) allowed to open the router's WebSocket, comma-separated.
   * Default empty: only pages from the router's own host. Clients that send no Origin (apps, servers)
   * are always allowed: they are not browsers, so no other site can ride on them.
   */
  ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((o) => o.trim()).filter(Boolean))
    .pipe(z.array(z.url({ protocol: /^https?$/ }).transform((o) => new URL(o).origin))),
  /** How long a WebSocket may stay open without `connection_init`, in ms; default 3000. */
  SUBSCRIPTION_INIT_TIMEOUT_MS: z.coerce.number().int().min(100).default(3000),
  /** Subscriptions one WebSocket connection may hold open at once; default 20. */
  SUBSCRIPTIONS_PER_CONNECTION: z.coerce.number().int().min(1).default(20),
  /** Largest subscription event sent to a client, in bytes; a larger one becomes an error; default 1 MiB. */
  SUBSCRIPTION_MAX_EVENT_BYTES: z.coerce.number().int().min(1024).default(1024 * 1024),

  // Persisted operations at the router: trusted documents of the apps, APQ for the web.
  /** The apps' persisted query manifest (`npm run operations`), reloaded on SIGHUP; default `schema/operations/manifest.json`. */
  PERSISTED_QUERIES_PATH: z.string().default('schema/operations/manifest.json'),
  /**
   * Client names (`apollographql-client-name`) that may run only manifest operations, comma-separated;
   * default `ios,android`. Empty: every client may send any operation.
   */
  SAFELIST_CLIENTS: z
    .string()
    .default('ios,android')
    .transform((v) => v.split(',').map((c) => c.trim()).filter(Boolean)),
  /** Automatic persisted queries (APQ) for clients not on the safelist; default on. Manifest ids work either way. */
  APQ: flag.default(true),
  /** How long a registered APQ text is kept, in seconds; a client whose text expired registers it again; default 86400. */
  APQ_TTL_SECONDS: z.coerce.number().int().min(1).default(86_400),
  /** Bytes of APQ texts kept in the router's memory when REDIS_URL is not set; default 16 MiB. */
  APQ_CACHE_BYTES: z.coerce.number().int().min(1024).default(16 * 1024 * 1024),
  /** `max-age` of anonymous persisted queries sent by GET (`cache-control: public`), in seconds; default 60. 0: never cached. */
  PERSISTED_QUERY_MAX_AGE_SECONDS: z.coerce.number().int().min(0).default(60),

  // Sessions and sign-in throttling (customer subgraph).
  /** How long a refresh token can be used, in days; each refresh issues a new one for as long again; default 30. */
  REFRESH_TOKEN_TTL_DAYS: z.coerce.number().int().min(1).max(365).default(30),
  /** Failed sign-ins for one email within the window before further attempts are refused; default 10. */
  LOGIN_MAX_FAILURES_PER_EMAIL: z.coerce.number().int().min(1).default(10),
  /** Failed sign-ins from one client address within the window before further attempts are refused; default 50. */
  LOGIN_MAX_FAILURES_PER_ADDRESS: z.coerce.number().int().min(1).default(50),
  /** The window failed sign-ins are counted over, in seconds, from the first failure; default 900. */
  LOGIN_FAILURE_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86400).default(900),
  /** How often expired and long-ended sessions are deleted, in seconds; default 3600. */
  SESSION_SWEEP_INTERVAL_SECONDS: z.coerce.number().int().min(1).default(3600),
});

type SubgraphEnv = Record<string, unknown>;
const subgraphFields: Record<string, z.ZodTypeAny> = {};
for (const { name, port: defaultPort } of SUBGRAPHS) {
  const prefix = envPrefix(name);
  subgraphFields[`${prefix}_PORT`] = port.default(defaultPort);
  subgraphFields[`${prefix}_DATABASE_URL`] = postgresUrl;
  subgraphFields[`${prefix}_URL`] = z.url().optional();
}

/** Every environment variable the configuration reads (deployment files are checked against it). */
export const CONFIG_VARIABLES: readonly string[] = [...Object.keys(base.shape), ...Object.keys(subgraphFields)];

const schema = base.extend(subgraphFields).superRefine((env, ctx) => {
  if (env.NODE_ENV === 'production') {
    // Every process verifies tokens; only the customer subgraph signs them (see AccessTokens.canIssue).
    if (!env.JWT_PUBLIC_KEY) ctx.addIssue({ code: 'custom', path: ['JWT_PUBLIC_KEY'], message: 'is required when NODE_ENV=production' });
  }
  // PostgreSQL's search reads the catalog's own tables: a catalog on MongoDB is searched on Elasticsearch.
  if (env.PRODUCT_MONGODB_URL && !env.PRODUCT_ELASTICSEARCH_URL) {
    ctx.addIssue({ code: 'custom', path: ['PRODUCT_ELASTICSEARCH_URL'], message: 'is required with PRODUCT_MONGODB_URL' });
  }
});

export interface SubgraphConfig {
  name: SubgraphName;
  port: number;
  /** Real PostgreSQL server; when absent the subgraph runs on embedded PGlite. */
  databaseUrl?: string;
  /** Where other subgraphs reach this one; default http://127.0.0.1:<port>/graphql. */
  url: string;
}

export type Config = z.infer<typeof base> & {
  logPretty: boolean;
  subgraphs: Record<SubgraphName, SubgraphConfig>;
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment once, at start; every problem is reported together. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`));
  }
  const values = parsed.data as z.infer<typeof base> & SubgraphEnv;
  const subgraphs = {} as Record<SubgraphName, SubgraphConfig>;
  for (const { name } of SUBGRAPHS) {
    const prefix = envPrefix(name);
    const databaseUrl = values[`${prefix}_DATABASE_URL`] as string | undefined;
    const port = values[`${prefix}_PORT`] as number;
    const url = (values[`${prefix}_URL`] as string | undefined) ?? `http://127.0.0.1:${port}/graphql`;
    subgraphs[name] = { name, port, url, ...(databaseUrl ? { databaseUrl } : {}) };
  }
  return { ...values, logPretty: values.LOG_PRETTY ?? Boolean(process.stdout.isTTY), subgraphs };
}
