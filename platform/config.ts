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
  /** Connections each subgraph keeps to its PostgreSQL server; default 10. */
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(1000).default(10),
  /** How long opening a PostgreSQL connection may take before the query fails, in ms; default 2000. */
  DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).default(2000),
  /** Longest a statement may run on the PostgreSQL server before it is cancelled, in ms; default 10000. */
  DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /** How often an outbox relay looks for unpublished events, in ms; default 250. */
  OUTBOX_POLL_MS: z.coerce.number().int().min(10).default(250),
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

const schema = base.extend(subgraphFields).superRefine((env, ctx) => {
  if (env.NODE_ENV === 'production') {
    // Every process verifies tokens; only the customer subgraph signs them (see AccessTokens.canIssue).
    if (!env.JWT_PUBLIC_KEY) ctx.addIssue({ code: 'custom', path: ['JWT_PUBLIC_KEY'], message: 'is required when NODE_ENV=production' });
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
