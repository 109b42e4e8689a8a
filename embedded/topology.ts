/**
 * The shop's production topology as processes on this machine, for the fault tests and the
 * checkout benchmark: a PostgreSQL server and a Redis server of its own, each subgraph and
 * the router in a process of its own (events on Redis Streams, a database per subgraph),
 * seeded with the small demo shop. It can read its stores directly to say whether the shop
 * has settled and whether every invariant holds: no order left pending, no unit oversold or
 * left reserved, exactly one authorization per paid order at the card processor, no dead
 * letters, one order per idempotency key.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import postgres from 'postgres';
import { generateTokenPems } from '../platform/auth';
import { startProcess, type ServiceProcess } from '../platform/test-processes';
import { startTestPostgres, startTestRedis, type TestPostgresServer, type TestRedisServer } from '../platform/test-servers';
import { sleep, waitFor } from '../platform/testing';
import { composeSupergraph } from '../schema/compose';
import { envPrefix, SUBGRAPHS, type SubgraphName } from '../schema/subgraphs';
import { generateDemoShop, SMALL_SIZE } from '../platform/demo-shop';
import type { DemoShop } from '../platform/demo-shop-types';
import { RouterClient, type KeyRecord, type PlacedOrder, type Shopper } from './test/fault-load';

/** The demo accounts' password: not the default, which the customer subgraph refuses with NODE_ENV=production. */
export const DEMO_PASSWORD = 'topology-demo-password';
/** Subgraphs in the order they are started: order last, since it prices carts at product-search and replays the demo history through inventory and payment. */
const START_ORDER: SubgraphName[] = ['customer', 'product-search', 'inventory', 'payment', 'recommendation', 'order'];
/** Statuses an order reaches only after its payment was authorized. */
const PAID = new Set(['CONFIRMED', 'SHIPPED', 'DELIVERED', 'REFUNDED']);
const SHIPPED = new Set(['SHIPPED', 'DELIVERED', 'REFUNDED']);
/** Node's options the router runs with in the Dockerfile, docker-compose.yml and `npm run router`: a young generation that collects less often. */
const ROUTER_NODE_ARGS = ['--max-semi-space-size=64'];

/**
 * A subgraph or the router in its own process, restartable with the same environment and
 * port. An exit the test did not cause is recorded and the process started again, as an
 * orchestrator would; a test reports it as a failure of the shop.
 */
export class Service {
  private current: ServiceProcess | undefined;
  private readonly logs: string[] = [];
  private killing = false;
  /** The latest start: closing waits for it, so no process comes up after the test ends. */
  private starting: Promise<void> | undefined;
  private closed = false;
  /** The port it listens on, fixed after the first start. */
  port = 0;
  readonly unexpectedExits: { at: number; code: number | null; signal: string | null }[] = [];

  constructor(
    readonly name: string,
    private readonly script: string,
    private readonly args: (port: number) => string[],
    private readonly env: (port: number) => Record<string, string>,
    private readonly nodeArgs: readonly string[] = [],
  ) {}

  get url(): string {
    return this.current?.url ?? `http://127.0.0.1:${this.port}/graphql`;
  }

  /** The pid of its launcher (the program runs in a child of it), while it runs. */
  get pid(): number | undefined {
    return this.alive() ? this.current!.child.pid : undefined;
  }

  start(): Promise<void> {
    this.starting = this.launch();
    return this.starting;
  }

  private async launch(): Promise<void> {
    const started = await startProcess(this.script, this.args(this.port), this.env(this.port), 90_000, this.nodeArgs);
    this.current = started;
    this.killing = false;
    this.port = Number(new URL(started.url).port);
    started.child.once('exit', (code, signal) => {
      this.logs.push(started.output());
      if (this.killing || this.closed || this.current !== started) return;
      this.unexpectedExits.push({ at: Date.now(), code, signal });
      void this.start().catch((error: Error) => void this.logs.push(`restart failed: ${error.message}\n`));
    });
  }

  /** SIGKILL, as the kernel's OOM killer or a lost node would; resolves once it has exited. */
  async kill(): Promise<void> {
    const running = this.current;
    if (!running || !this.alive()) return;
    this.killing = true;
    await running.kill();
  }

  alive(): boolean {
    const child = this.current?.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Everything it wrote, over every run. */
  output(): string {
    return [...this.logs, this.alive() ? this.current!.output() : ''].join('');
  }

  /** SIGTERM, then SIGKILL if it does not exit within 10 s. */
  async close(): Promise<void> {
    this.closed = true;
    await this.starting?.catch(() => undefined);
    const running = this.current;
    if (!running || !this.alive()) return;
    const stopped = running.stop();
    const timer = setTimeout(() => void running.kill(), 10_000);
    await stopped;
    clearTimeout(timer);
  }
}

/** Whether a line of a process's output is a warning or an error it logged (pino levels 40 and up), or anything that is not a log line. */
export function isTroubleLine(line: string): boolean {
  if (!line.trim()) return false;
  const level = /"level":(\d+)/.exec(line);
  return level ? Number(level[1]) >= 40 : true;
}

/** The last `limit` of a process's trouble lines (`isTroubleLine`), each cut to 600 characters. */
export function troubleLines(output: string, limit = 25): string[] {
  const lines = output.split('\n').filter(isTroubleLine);
  return lines.slice(-limit).map((line) => (line.length > 600 ? `${line.slice(0, 600)}…` : line));
}

type Row = Record<string, any>;

/** What clients of the shop learned, for the invariants to check against the stores. */
export interface CheckoutRecord {
  /** Every idempotency key sent, with the orders its answers named. */
  keys: Map<string, KeyRecord>;
  /** Every order a client was given. */
  orders: Map<string, PlacedOrder>;
  /**
   * Units on hand per `<product> <warehouse>` before any shipment, when stock was counted
   * after seeding (`setStock`); default the demo shop's seeded stock.
   */
  stockBaseline?: Map<string, number>;
}

export interface ShopTopologyOptions {
  /** Names the event streams and temporary folder; default `shop`. */
  name?: string;
  /** Configuration every subgraph gets, over the topology's own. */
  env?: Record<string, string>;
  /** Configuration the router gets, over the topology's own. */
  routerEnv?: Record<string, string>;
  /** Node's options for a process, by its name (`router` or a subgraph's), after those production gives it. */
  nodeArgs?: (service: string) => string[];
  /** Settings of the topology's PostgreSQL server, over the test defaults. */
  postgresSettings?: Record<string, string>;
}

/** The topology, running: start it with `startShopTopology`, stop it with `close`. */
export class ShopTopology {
  readonly shop: DemoShop = generateDemoShop(SMALL_SIZE);
  readonly prefix: string;
  readonly dataDir: string;
  readonly services = new Map<SubgraphName, Service>();
  readonly databases = {} as Record<SubgraphName, string>;
  router: Service | undefined;
  client!: RouterClient;

  constructor(
    readonly pg: TestPostgresServer,
    readonly redis: TestRedisServer,
    private readonly options: ShopTopologyOptions,
  ) {
    const name = options.name ?? 'shop';
    this.prefix = `${name}-${randomBytes(4).toString('hex')}`;
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  }

  service(name: SubgraphName): Service {
    return this.services.get(name)!;
  }

  allProcesses(): Service[] {
    return [...this.services.values(), ...(this.router ? [this.router] : [])];
  }

  /** Creates the databases, starts the subgraphs (order last, once the rest answer), waits for the demo history, then the router. */
  async start(): Promise<void> {
    const { pg, redis } = this;
    for (const { name } of SUBGRAPHS) this.databases[name] = await pg.createDatabase(`shop_${envPrefix(name).toLowerCase()}`);

    const keyPair = generateTokenPems();
    // What every process of the shop shares, the router included, as in docker-compose.yml.
    const shared = {
      NODE_ENV: 'test',
      DATA_DIR: this.dataDir,
      REDIS_URL: redis.url,
      EVENT_STREAM_PREFIX: this.prefix,
      SERVICE_TOKEN: randomBytes(24).toString('base64url'),
      JWT_PUBLIC_KEY: keyPair.publicKey,
      SHUTDOWN_GRACE_MS: '2000',
    };
    const common = {
      ...shared,
      SEED_DEMO: 'true',
      DEMO_SIZE: 'small',
      DEMO_PASSWORD,
      ...this.options.env,
    };
    for (const name of START_ORDER) {
      this.services.set(
        name,
        new Service(name, `subgraphs/${name}/main.ts`, () => [], (port) => {
          const env: Record<string, string> = { ...common, [`${envPrefix(name)}_DATABASE_URL`]: this.databases[name], [`${envPrefix(name)}_PORT`]: String(port) };
          // Where the subgraphs started so far listen: order reaches product-search, inventory and payment.
          for (const [peer, other] of this.services) if (peer !== name && other.port) env[`${envPrefix(peer)}_PORT`] = String(other.port);
          if (name === 'customer') env.JWT_PRIVATE_KEY = keyPair.privateKey;
          return env;
        }, this.options.nodeArgs?.(name)),
      );
    }
    // Everything order depends on first, side by side; then order, which replays the demo history.
    const first = await Promise.allSettled(START_ORDER.filter((name) => name !== 'order').map((name) => this.service(name).start()));
    for (const outcome of first) if (outcome.status === 'rejected') throw outcome.reason;
    await this.service('order').start();
    await waitFor(
      'the demo order history to be replayed',
      () => {
        const log = this.service('order').output();
        if (log.includes('demo order history not replayed')) throw new Error(`the demo history failed:\n${troubleLines(log).join('\n')}`);
        return log.includes('replayed demo order history through checkout');
      },
      180_000,
    );

    const supergraph = path.join(this.dataDir, 'supergraph.graphql');
    fs.writeFileSync(supergraph, composeSupergraph((name) => `http://127.0.0.1:${this.services.get(name as SubgraphName)!.port}/graphql`));
    this.router = new Service(
      'router',
      'router/main.ts',
      (port) => ['--supergraph', supergraph, '--port', String(port)],
      () => ({ ...shared, ...this.options.routerEnv }),
      [...ROUTER_NODE_ARGS, ...(this.options.nodeArgs?.('router') ?? [])],
    );
    await this.router.start();
    // A router that cannot read the partner keys would refuse every partner: the shop is not what production runs.
    const routerLog = this.router.output();
    if (routerLog.includes('API keys not loaded yet')) throw new Error(`the router cannot read the partner API keys:\n${troubleLines(routerLog).join('\n')}`);
    this.client = new RouterClient(this.router.url);
  }

  /** Signs a demo account (or one that signed up) in through the router. */
  async login(email: string): Promise<Shopper> {
    const res = await this.client.send('login', `mutation ($input: LoginInput!) { login(input: $input) { accessToken customer { id } } }`, {
      input: { email, password: DEMO_PASSWORD },
    });
    if (!res.data?.login) throw new Error(`${email} cannot sign in: ${res.codes.join(', ')}`);
    return { email, token: res.data.login.accessToken as string, customerId: res.data.login.customer.id as string };
  }

  /** Signs a new customer up through the router. */
  async register(email: string, name: string): Promise<Shopper> {
    const res = await this.client.send('register', `mutation ($input: RegisterInput!) { register(input: $input) { accessToken customer { id } } }`, {
      input: { email, password: DEMO_PASSWORD, name },
    });
    if (!res.data?.register) throw new Error(`${email} cannot sign up: ${res.codes.join(', ')}`);
    return { email, token: res.data.register.accessToken as string, customerId: res.data.register.customer.id as string };
  }

  /**
   * Units on hand per `<product> <warehouse>` as if nothing had shipped: the baseline the
   * stock invariant checks against after stock was counted anew (`setStock`).
   */
  async stockBaselineNow(): Promise<Map<string, number>> {
    const { levels, shipped } = await this.withDatabase('inventory', async (sql) => ({
      levels: await sql<Row[]>`select product_id, warehouse_id, on_hand from inventory.stock_levels`,
      shipped: await sql<Row[]>`
        select l.product_id, l.warehouse_id, sum(l.quantity)::int as quantity
        from inventory.reservation_lines l join inventory.reservations r using (order_id)
        where r.status = 'SHIPPED' group by l.product_id, l.warehouse_id`,
    }));
    const shippedAt = new Map(shipped.map((s) => [`${s.product_id} ${s.warehouse_id}`, s.quantity as number]));
    return new Map(levels.map((l) => [`${l.product_id} ${l.warehouse_id}`, (l.on_hand as number) + (shippedAt.get(`${l.product_id} ${l.warehouse_id}`) ?? 0)]));
  }

  /** Stops every process (router first), then the servers, and removes the data. */
  async close(): Promise<void> {
    for (const running of this.allProcesses().reverse()) await running.close().catch(() => undefined);
    await this.redis.destroy().catch(() => undefined);
    await this.pg.destroy().catch(() => undefined);
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Opens a connection to a subgraph's database for one piece of work. */
  async withDatabase<T>(name: SubgraphName, work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
    const sql = postgres(this.databases[name], { max: 1, onnotice: () => {}, connect_timeout: 5 });
    try {
      return await work(sql);
    } finally {
      await sql.end({ timeout: 1 });
    }
  }

  async withRedis<T>(work: (redis: Redis) => Promise<T>): Promise<T> {
    const connection = new Redis(this.redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    connection.on('error', () => {});
    try {
      await connection.connect();
      return await work(connection);
    } finally {
      connection.disconnect();
    }
  }

  /** What keeps the shop from being settled now: pending orders, unpublished outboxes, unread or unacknowledged events, processes down. */
  async unsettled(): Promise<string[]> {
    const open: string[] = [];
    try {
      const [pending] = await this.withDatabase('order', (sql) => sql<Row[]>`select count(*)::int as n from orders.orders where status = 'PENDING'`);
      if (pending!.n > 0) open.push(`${pending!.n} orders PENDING`);
      for (const [name, schema] of [['order', 'orders'], ['inventory', 'inventory'], ['payment', 'payment']] as const) {
        const [row] = await this.withDatabase(name, (sql) => sql<Row[]>`select count(*)::int as n from ${sql(schema)}.outbox where published_at is null`);
        if (row!.n > 0) open.push(`${row!.n} events unpublished in the ${name} outbox`);
      }
    } catch (error) {
      open.push(`PostgreSQL cannot be read: ${(error as Error).message}`);
    }
    try {
      open.push(...(await this.withRedis((r) => this.unfinishedGroups(r))));
    } catch (error) {
      open.push(`Redis cannot be read: ${(error as Error).message}`);
    }
    for (const running of this.allProcesses()) if (!running.alive()) open.push(`${running.name} is not running`);
    return open;
  }

  /** Consumer groups with events unread (lag) or read and not acknowledged (pending). */
  async unfinishedGroups(r: Redis): Promise<string[]> {
    const open: string[] = [];
    const streams = await r.keys(`${this.prefix}:events:*`);
    for (const stream of streams) {
      const lastId = ((await r.xinfo('STREAM', stream)) as unknown[]).reduce<string | undefined>(
        (found, value, i, all) => (all[i - 1] === 'last-generated-id' ? String(value) : found),
        undefined,
      );
      for (const group of (await r.xinfo('GROUPS', stream)) as unknown[][]) {
        const info: Record<string, unknown> = {};
        for (let i = 0; i < group.length; i += 2) info[String(group[i])] = group[i + 1];
        const behind = info.lag === null || info.lag === undefined ? info['last-delivered-id'] !== lastId : Number(info.lag) > 0;
        if (Number(info.pending) > 0 || behind) {
          open.push(`${stream.slice(this.prefix.length + 1)} group ${info.name}: ${info.pending} pending, lag ${info.lag}`);
        }
      }
    }
    return open;
  }

  /** Waits for the shop to settle; resolves what was still open when it gave up (empty when settled). */
  async settle(): Promise<string[]> {
    let open: string[] = [];
    try {
      await waitFor(
        'the shop to settle',
        async () => {
          open = await this.unsettled();
          if (open.length) await sleep(250);
          return open.length === 0;
        },
        60_000,
      );
      return [];
    } catch {
      return open;
    }
  }

  /** Every invariant of the shop's stores; resolves the ones broken, each with the orders it concerns. */
  async brokenInvariants(record: CheckoutRecord): Promise<string[]> {
    const { orders, keys } = record;
    const broken: string[] = [];
    const phaseOf = (orderId: string) => orders.get(orderId)?.phase ?? 'demo history';
    const named = (ids: string[]) =>
      ids
        .slice(0, 8)
        .map((id) => `${id} (${phaseOf(id)})`)
        .join(', ') + (ids.length > 8 ? ` and ${ids.length - 8} more` : '');

    const { orderRows, lineRows, keyRows } = await this.withDatabase('order', async (sql) => ({
      orderRows: await sql<Row[]>`select id, customer_id, status, total_amount from orders.orders`,
      lineRows: await sql<Row[]>`select order_id, product_id, quantity from orders.order_lines`,
      keyRows: await sql<Row[]>`select customer_id, key, order_id from orders.idempotency_keys`,
    }));
    const { stockRows, reservationRows, reservedLineRows } = await this.withDatabase('inventory', async (sql) => ({
      stockRows: await sql<Row[]>`select product_id, warehouse_id, on_hand, reserved from inventory.stock_levels`,
      reservationRows: await sql<Row[]>`select order_id, status, confirmed_at from inventory.reservations`,
      reservedLineRows: await sql<Row[]>`select order_id, product_id, warehouse_id, quantity from inventory.reservation_lines`,
    }));
    const paymentRows = await this.withDatabase('payment', (sql) => sql<Row[]>`select order_id, status, amount, captured_amount from payment.payments`);

    const byId = new Map(orderRows.map((o) => [o.id as string, o]));
    const withStatus = (statuses: Set<string> | string[]) =>
      orderRows.filter((o) => (Array.isArray(statuses) ? statuses.includes(o.status) : statuses.has(o.status))).map((o) => o.id as string);

    // No order is left PENDING once the shop has settled.
    const pending = withStatus(['PENDING']);
    if (pending.length) broken.push(`${pending.length} orders still PENDING: ${named(pending)}`);

    // Stock: reserved is what open reservations hold; on hand is the seeded stock less what shipped.
    const seeded = record.stockBaseline ?? new Map(this.shop.stock.map((s) => [`${s.productId} ${s.warehouseId}`, s.onHand]));
    const reservationOf = new Map(reservationRows.map((r) => [r.order_id as string, r]));
    const heldBy = new Map<string, number>();
    const shippedFrom = new Map<string, number>();
    for (const line of reservedLineRows) {
      const at = `${line.product_id} ${line.warehouse_id}`;
      const status = reservationOf.get(line.order_id)?.status;
      if (status === 'RESERVED') heldBy.set(at, (heldBy.get(at) ?? 0) + line.quantity);
      if (status === 'SHIPPED') shippedFrom.set(at, (shippedFrom.get(at) ?? 0) + line.quantity);
    }
    const stockProblems: string[] = [];
    for (const level of stockRows) {
      const at = `${level.product_id} ${level.warehouse_id}`;
      const expectedOnHand = (seeded.get(at) ?? 0) - (shippedFrom.get(at) ?? 0);
      if (level.on_hand < 0 || level.reserved < 0 || level.reserved > level.on_hand) {
        stockProblems.push(`${at}: on hand ${level.on_hand}, reserved ${level.reserved}`);
      } else if (level.reserved !== (heldBy.get(at) ?? 0)) {
        stockProblems.push(`${at}: reserved ${level.reserved}, open reservations hold ${heldBy.get(at) ?? 0}`);
      } else if (level.on_hand !== expectedOnHand) {
        stockProblems.push(`${at}: on hand ${level.on_hand}, seeded ${seeded.get(at)} less ${shippedFrom.get(at) ?? 0} shipped = ${expectedOnHand}`);
      }
    }
    if (stockProblems.length) broken.push(`stock levels off (oversold or leaked) at ${stockProblems.length} product/warehouse: ${stockProblems.slice(0, 8).join('; ')}`);

    // Each order's reservation matches its status and its lines: held while CONFIRMED, shipped once SHIPPED, released otherwise.
    const orderedUnits = new Map<string, Map<string, number>>();
    for (const line of lineRows) {
      const units = orderedUnits.get(line.order_id) ?? new Map<string, number>();
      units.set(line.product_id, (units.get(line.product_id) ?? 0) + line.quantity);
      orderedUnits.set(line.order_id, units);
    }
    const reservedUnits = new Map<string, Map<string, number>>();
    for (const line of reservedLineRows) {
      const units = reservedUnits.get(line.order_id) ?? new Map<string, number>();
      units.set(line.product_id, (units.get(line.product_id) ?? 0) + line.quantity);
      reservedUnits.set(line.order_id, units);
    }
    const sameUnits = (a = new Map<string, number>(), b = new Map<string, number>()) =>
      a.size === b.size && [...a].every(([product, n]) => b.get(product) === n);
    const reservationProblems: string[] = [];
    for (const o of orderRows) {
      const reservation = reservationOf.get(o.id);
      const wanted = o.status === 'CONFIRMED' ? 'RESERVED' : SHIPPED.has(o.status) ? 'SHIPPED' : undefined;
      if (wanted) {
        if (reservation?.status !== wanted) reservationProblems.push(`${o.id} (${phaseOf(o.id)}) is ${o.status} but its reservation is ${reservation?.status ?? 'missing'}`);
        else if (!sameUnits(orderedUnits.get(o.id), reservedUnits.get(o.id))) reservationProblems.push(`${o.id} (${phaseOf(o.id)}): reserved units differ from its lines`);
        else if (wanted === 'RESERVED' && !reservation.confirmed_at) reservationProblems.push(`${o.id} (${phaseOf(o.id)}) is CONFIRMED but its reservation is not`);
      } else if (reservation && ['RESERVED', 'SHIPPED'].includes(reservation.status)) {
        reservationProblems.push(`${o.id} (${phaseOf(o.id)}) is ${o.status} but its reservation is ${reservation.status}`);
      }
    }
    for (const r of reservationRows) if (!byId.has(r.order_id)) reservationProblems.push(`reservation of unknown order ${r.order_id}`);
    if (reservationProblems.length) broken.push(`${reservationProblems.length} reservations do not match their orders: ${reservationProblems.slice(0, 8).join('; ')}`);

    // Payments: captured once shipped, voided when cancelled after authorization, authorized while confirmed.
    const paymentOf = new Map(paymentRows.map((p) => [p.order_id as string, p]));
    const paymentProblems: string[] = [];
    for (const o of orderRows) {
      const payment = paymentOf.get(o.id);
      const wanted =
        o.status === 'CONFIRMED' ? ['AUTHORIZED']
        : o.status === 'SHIPPED' || o.status === 'DELIVERED' ? ['CAPTURED']
        : o.status === 'REFUNDED' ? ['REFUNDED']
        : o.status === 'PAYMENT_FAILED' ? ['DECLINED', 'FAILED']
        : o.status === 'CANCELLED' && payment && !['DECLINED', 'FAILED'].includes(payment.status) ? ['VOIDED']
        : undefined;
      if (wanted && !wanted.includes(payment?.status)) {
        paymentProblems.push(`${o.id} (${phaseOf(o.id)}) is ${o.status} but its payment is ${payment?.status ?? 'missing'}`);
      } else if (payment && PAID.has(o.status) && payment.amount !== o.total_amount) {
        paymentProblems.push(`${o.id} (${phaseOf(o.id)}): payment of ${payment.amount} for a total of ${o.total_amount}`);
      } else if (payment && SHIPPED.has(o.status) && payment.captured_amount !== o.total_amount) {
        paymentProblems.push(`${o.id} (${phaseOf(o.id)}): captured ${payment.captured_amount} of ${o.total_amount}`);
      }
    }
    if (paymentProblems.length) broken.push(`${paymentProblems.length} payments do not match their orders: ${paymentProblems.slice(0, 8).join('; ')}`);

    // The card processor's ledger: one authorization per paid order, captured once when shipped, voided once when cancelled.
    try {
      const ledger = await this.withDatabase(
        'payment',
        (sql) => sql<Row[]>`select operation, outcome, amount, idempotency_key from card_processor.ledger where outcome = 'approved' order by seq`,
      );
      const count = new Map<string, number>();
      const authorized = new Map<string, number>();
      for (const entry of ledger) {
        count.set(entry.idempotency_key, (count.get(entry.idempotency_key) ?? 0) + 1);
        if (entry.operation === 'authorize') authorized.set(entry.idempotency_key, Number(entry.amount));
      }
      const n = (operation: string, orderId: string) => count.get(`${operation}:${orderId}`) ?? 0;
      const ledgerProblems: string[] = [];
      for (const o of orderRows) {
        const got = { authorize: n('authorize', o.id), capture: n('capture', o.id), void: n('void', o.id), refund: n('refund', o.id) };
        const wanted =
          PAID.has(o.status) ? { authorize: 1, capture: SHIPPED.has(o.status) ? 1 : 0, void: 0, refund: o.status === 'REFUNDED' ? 1 : 0 }
          : o.status === 'CANCELLED' ? { authorize: got.authorize > 0 ? 1 : 0, capture: 0, void: got.authorize > 0 ? 1 : 0, refund: 0 }
          : o.status === 'PENDING' ? undefined
          : { authorize: 0, capture: 0, void: 0, refund: 0 };
        if (wanted && JSON.stringify(got) !== JSON.stringify(wanted)) {
          ledgerProblems.push(`${o.id} (${phaseOf(o.id)}) is ${o.status}; the processor approved ${JSON.stringify(got)}`);
        } else if (got.authorize === 1 && authorized.get(`authorize:${o.id}`) !== o.total_amount) {
          ledgerProblems.push(`${o.id} (${phaseOf(o.id)}): authorized ${authorized.get(`authorize:${o.id}`)} for a total of ${o.total_amount}`);
        }
      }
      for (const key of authorized.keys()) {
        if (!byId.has(key.slice('authorize:'.length))) ledgerProblems.push(`an authorization (${key}) for an order that does not exist`);
      }
      if (ledgerProblems.length) broken.push(`${ledgerProblems.length} orders disagree with the card processor's ledger: ${ledgerProblems.slice(0, 8).join('; ')}`);
    } catch (error) {
      broken.push(`the card processor's ledger cannot be read (card_processor.ledger in the payment database): ${(error as Error).message}`);
    }

    // No dead letters.
    const dead = await this.withRedis(async (r) => ({
      count: await r.xlen(`${this.prefix}:dead-letters`),
      entries: (await r.xrange(`${this.prefix}:dead-letters`, '-', '+', 'COUNT', 8)) as [string, string[]][],
    }));
    if (dead.count > 0) {
      const describe = dead.entries.map(([, fields]) => {
        const f: Record<string, string> = {};
        for (let i = 0; i < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
        const event = JSON.parse(f.event ?? '{}') as { type?: string; aggregateId?: string };
        return `${event.type} of ${event.aggregateId} in ${f.group} after ${f.deliveries} deliveries: ${f.lastError}`;
      });
      broken.push(`${dead.count} dead letters: ${describe.join('; ')}`);
    }

    // Idempotency: a key names one order whatever happened to its requests; every order has exactly one key.
    const keyRow = new Map(keyRows.map((k) => [`${k.customer_id} ${k.key}`, k.order_id as string]));
    const keysOfOrder = new Map<string, number>();
    for (const k of keyRows) keysOfOrder.set(k.order_id, (keysOfOrder.get(k.order_id) ?? 0) + 1);
    const idempotencyProblems: string[] = [];
    for (const record of keys.values()) {
      const stored = keyRow.get(`${record.customerId} ${record.key}`);
      const seen = [...record.orderIds];
      if (seen.length > 1) idempotencyProblems.push(`key ${record.key} answered with ${seen.length} orders: ${seen.join(', ')}`);
      else if (seen.length === 1 && stored !== seen[0]) idempotencyProblems.push(`key ${record.key} answered ${seen[0]} but names ${stored ?? 'nothing'} in the store`);
      else if (stored && !byId.has(stored)) idempotencyProblems.push(`key ${record.key} names ${stored}, which does not exist`);
    }
    for (const o of orderRows) {
      if ((keysOfOrder.get(o.id) ?? 0) !== 1) idempotencyProblems.push(`order ${o.id} (${phaseOf(o.id)}) has ${keysOfOrder.get(o.id) ?? 0} idempotency keys`);
    }
    for (const id of orders.keys()) if (!byId.has(id)) idempotencyProblems.push(`order ${id} was returned to a client but does not exist`);
    const retried = [...keys.values()].filter((k) => k.sends > 1).length;
    if (idempotencyProblems.length) broken.push(`idempotency broken (${retried} keys retried): ${idempotencyProblems.slice(0, 8).join('; ')}`);

    return broken;
  }
}

/** Starts a PostgreSQL and a Redis server of the topology's own, then the shop's processes on them. */
export async function startShopTopology(options: ShopTopologyOptions = {}): Promise<ShopTopology> {
  const pg = await startTestPostgres(options.postgresSettings);
  const redis = await startTestRedis({ appendonly: true }).catch(async (error: unknown) => {
    await pg.destroy();
    throw error;
  });
  const topology = new ShopTopology(pg, redis, options);
  try {
    await topology.start();
  } catch (error) {
    await topology.close();
    throw error;
  }
  return topology;
}
