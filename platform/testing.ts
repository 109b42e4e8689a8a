/**
 * Test helpers: real stores (embedded PGlite, and a PostgreSQL server when
 * TEST_DATABASE_URL is set), real HTTP servers on free ports, real tokens.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { SubgraphName } from '../schema/subgraphs';
import { envPrefix } from '../schema/subgraphs';
import { AccessTokens, generateTokenPems, loadTokenKeys, type Scope } from './auth';
import { loadConfig } from './config';
import { EmbeddedPostgres, rowsOf, type Database } from './db';
import { silentLogger } from './logger';
import type { RunningService } from './server';
import { PeerDirectory, startSubgraph, type SubgraphDefinition, type SubgraphDeps } from './subgraph';
import { InProcessEventBus, openEventBus } from './event-bus';
import type { EventBus } from './events';
import { InProcessPubSub, openPubSub, type PubSub } from './pubsub';
import { revocationsOn, type Revocations } from './revocations';
import type { RequestContext } from './context';

/** A PostgreSQL server for tests (the one `.ci/run` starts); absent means those tests are skipped. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;

/** A Redis server for tests (the one `.ci/run` starts); absent means those tests are skipped. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL;

/** A MongoDB server (a replica set, for transactions) for tests; absent means those tests are skipped. */
export const TEST_MONGODB_URL = process.env.TEST_MONGODB_URL;

/** An Elasticsearch 8 server for tests; absent means those tests are skipped. */
export const TEST_ELASTICSEARCH_URL = process.env.TEST_ELASTICSEARCH_URL;

/** Whether this run has a MongoDB server; says what is skipped when it has none. */
export function mongoAvailable(): boolean {
  if (TEST_MONGODB_URL) return true;
  process.stderr.write('SKIPPED: MongoDB store tests (set TEST_MONGODB_URL to run them)\n');
  return false;
}

/** Whether this run has an Elasticsearch server; says what is skipped when it has none. */
export function elasticsearchAvailable(): boolean {
  if (TEST_ELASTICSEARCH_URL) return true;
  process.stderr.write('SKIPPED: Elasticsearch store tests (set TEST_ELASTICSEARCH_URL to run them)\n');
  return false;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export type StoreBackend = 'pglite' | 'postgres';

/** Backends available in this run; says once, loudly, what is skipped. */
export function storeBackends(): StoreBackend[] {
  if (TEST_DATABASE_URL) return ['pglite', 'postgres'];
  process.stderr.write('SKIPPED: PostgreSQL server tests (set TEST_DATABASE_URL to run them)\n');
  return ['pglite'];
}

/** A `describe` of tests that need a PostgreSQL server: skipped, and said so, where TEST_DATABASE_URL is not set. */
export function describeOnServer(name: string, tests: () => void): void {
  (storeBackends().includes('postgres') ? describe : describe.skip)(name, tests);
}

/** Creates an empty database on the test server; `drop` removes it. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  if (!TEST_DATABASE_URL) throw new Error('TEST_DATABASE_URL is not set');
  const name = `test_${randomBytes(6).toString('hex')}`;
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const conn = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
      await conn.unsafe(`drop database if exists ${name} with (force)`);
      await conn.end();
    },
  };
}

/**
 * The plan PostgreSQL caches for a prepared statement once it settles on a generic one (the
 * plan a connection keeps for it until the tables' statistics change), made now, on the tables
 * as they are: `text` is the statement with `$1`... where its values go, each cast to its type.
 */
export async function genericPlan(database: Database, text: string): Promise<string> {
  const parameters = new Set(text.match(/\$\d+/g)).size;
  const plan = await database.db.transaction(async (tx) => {
    // name: generic-plan-mode
    await tx.execute(sql`set local plan_cache_mode = force_generic_plan`);
    // name: generic-plan-prepare
    await tx.execute(sql.raw(`prepare generic_plan_probe as ${text}`));
    try {
      // name: generic-plan-explain
      return rowsOf<{ 'QUERY PLAN': string }>(
        await tx.execute(sql.raw(`explain (costs off) execute generic_plan_probe(${Array(parameters).fill('null').join(', ')})`)),
      );
    } finally {
      // name: generic-plan-deallocate
      await tx.execute(sql.raw('deallocate generic_plan_probe'));
    }
  });
  return plan.map((row) => row['QUERY PLAN']).join('\n');
}

export interface TestDeps extends SubgraphDeps {
  /** Releases the embedded instance and drops the test database. */
  release(): Promise<void>;
  /** The ended sessions these deps' tokens refuse. */
  revocations: Revocations;
  /** A valid bearer header for a customer (scopes default to `customer`). */
  bearer(customerId: string, scopes?: Scope[]): Promise<string>;
}

/**
 * Everything a subgraph factory needs, on the chosen backend: an in-memory PGlite,
 * or a fresh database on the test server for the named subgraphs.
 */
export async function testDeps(
  backend: StoreBackend = 'pglite',
  subgraphs: SubgraphName[] = [],
  /** Extra configuration, as environment variables. */
  overrides: Record<string, string> = {},
): Promise<TestDeps> {
  // Fresh keys in the configuration, so processes a test spawns can be handed the same public key.
  const keys = generateTokenPems();
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATA_DIR: '/nonexistent',
    JWT_PRIVATE_KEY: keys.privateKey,
    JWT_PUBLIC_KEY: keys.publicKey,
    SERVICE_TOKEN: randomBytes(24).toString('base64url'),
    ...overrides,
  };
  let database: { url: string; drop(): Promise<void> } | undefined;
  if (backend === 'postgres') {
    database = await createTestDatabase();
    for (const name of subgraphs) env[`${envPrefix(name)}_DATABASE_URL`] = database.url;
  }
  const config = loadConfig(env);
  const tokens = new AccessTokens(await loadTokenKeys(config), { issuer: config.JWT_ISSUER, ttlSeconds: 900 });
  let embedded: Promise<EmbeddedPostgres> | undefined;
  let events: Promise<EventBus> | undefined;
  const logger = silentLogger();
  // Redis pub/sub when the test asks for REDIS_URL (channels under its EVENT_STREAM_PREFIX); otherwise in-process.
  const live: PubSub = config.REDIS_URL ? openPubSub(config, logger) : new InProcessPubSub(logger);
  const pubsub = Promise.resolve(live);
  const revocations = await revocationsOn(config, logger, live);
  tokens.useRevocations(revocations);
  return {
    config,
    logger,
    tokens,
    peers: new PeerDirectory(config),
    embedded: () => (embedded ??= EmbeddedPostgres.acquire('memory://')),
    // Redis Streams when the test asks for REDIS_URL; otherwise in-process, retrying without delay.
    events: () => (events ??= Promise.resolve(config.REDIS_URL ? openEventBus(config, logger) : new InProcessEventBus(logger, () => 1))),
    pubsub: () => pubsub,
    revocations,
    bearer: async (customerId, scopes = ['customer']) => `Bearer ${(await tokens.issue(customerId, scopes)).token}`,
    release: async () => {
      await revocations.close();
      await live.close();
      if (events) await (await events).close();
      if (embedded) await (await embedded).release();
      await database?.drop();
    },
  };
}

export interface GraphQLResponse<T = Record<string, any>> {
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, any> }[];
}

/** POSTs an operation and returns the parsed body. */
export async function postGraphQL<T = Record<string, any>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as GraphQLResponse<T>;
}

/** Serves a subgraph on a free port with the test deps' token keys. */
export async function serveTestSubgraph<C extends RequestContext>(
  definition: SubgraphDefinition<C>,
  deps: TestDeps,
): Promise<RunningService & { query: <T = Record<string, any>>(q: string, v?: Record<string, unknown>, auth?: string) => Promise<GraphQLResponse<T>> }> {
  const service = await startSubgraph(definition, {
    host: '127.0.0.1',
    port: 0,
    tokens: deps.tokens,
    logger: deps.logger,
    maxBodyBytes: 1024 * 1024,
    graceMs: 1000,
  });
  return {
    ...service,
    query: (q, v, auth) => postGraphQL(service.url, q, v, auth ? { authorization: auth } : {}),
  };
}

/** Everything one live subscription received, in order. */
export class LiveReceiver<T = Record<string, any>> {
  readonly payloads: GraphQLResponse<T>[] = [];
  /** What ended it with an error: GraphQL errors, or the socket's CloseEvent. */
  error: unknown;
  completed = false;
  /** Resolves when the subscription completes or fails. */
  readonly done: Promise<void>;
  private settle!: () => void;
  constructor() {
    this.done = new Promise((resolve) => (this.settle = resolve));
  }
  readonly sink = {
    next: (value: unknown) => void this.payloads.push(value as GraphQLResponse<T>),
    error: (error: unknown) => {
      this.error = error;
      this.settle();
    },
    complete: () => {
      this.completed = true;
      this.settle();
    },
  };
  /** Waits until `count` payloads have arrived, for up to `ms`. */
  async waitFor(count: number, ms = 5000): Promise<GraphQLResponse<T>[]> {
    const deadline = Date.now() + ms;
    while (this.payloads.length < count) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${count} payloads (have ${JSON.stringify(this.payloads)})`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.payloads;
  }
  /** Waits until the subscription completes or fails, for up to `ms`. */
  async ended(ms = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.done,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the subscription did not end')), ms))),
    ]).finally(() => clearTimeout(timer));
  }
}

/**
 * A graphql-ws client of a service's `/graphql` (its HTTP URL, served as ws://), sending
 * `connectionParams` on connection_init; `closes` records the close code of every socket it had.
 */
export function liveClient(
  httpUrl: string,
  connectionParams: Record<string, unknown> = {},
  /** `lazy: false` connects at once and keeps the socket open until disposed, so the server's close code is seen. */
  options: { lazy?: boolean } = {},
) {
  const url = new URL(httpUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const closes: number[] = [];
  const client = createClient({
    url: url.toString(),
    webSocketImpl: WebSocket,
    connectionParams,
    lazy: options.lazy ?? true,
    // A non-lazy socket closed by the server is recorded in `closes`, not printed.
    onNonLazyError: () => {},
    retryAttempts: 0,
    on: { closed: (event) => void closes.push((event as { code: number }).code) },
  });
  return {
    client,
    closes,
    subscribe<T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}): LiveReceiver<T> {
      const receiver = new LiveReceiver<T>();
      client.subscribe({ query, variables }, receiver.sink);
      return receiver;
    },
    dispose: () => client.dispose(),
  };
}

/** Polls until `condition` holds; fails the test, naming `what`, after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The value of one sample of `/metrics` text, 0 when absent. */
export function metricSample(text: string, name: string, labels: Record<string, string>): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.indexOf('}'));
    if (wanted.every((pair) => inside.split(',').includes(pair))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}
