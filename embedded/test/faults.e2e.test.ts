/**
 * Faults under load, in the production topology: a PostgreSQL server and a Redis server
 * of the test's own, each subgraph and the router in a process of its own. While shoppers
 * check out through the router, one part at a time fails (a subgraph SIGKILLed and
 * restarted, Redis killed and restarted, PostgreSQL crashed and started again); then the
 * load stops, the shop settles, and the stores are read directly to check that nothing
 * was lost or doubled: no order left pending, no unit oversold or left reserved, exactly
 * one authorization per paid order at the card processor, no dead letters, one order
 * per idempotency key. What each fault cost the clients is printed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import postgres from 'postgres';
import { generateTokenPems } from '../../platform/auth';
import { startProcess, type ServiceProcess } from '../../platform/test-processes';
import { canRunServers, startTestPostgres, startTestRedis, type TestPostgresServer, type TestRedisServer } from '../../platform/test-servers';
import { sleep, waitFor } from '../../platform/testing';
import { composeSupergraph } from '../../schema/compose';
import { envPrefix, SUBGRAPHS, type SubgraphName } from '../../schema/subgraphs';
import { generateDemoShop, SMALL_SIZE } from '../demo-shop';
import { CheckoutLoad, faultCost, formatFaultCost, RouterClient, type KeyRecord, type PlacedOrder, type Shopper } from './fault-load';

const servers = canRunServers();
const runnable = servers.postgres && servers.redis;
if (!runnable) process.stderr.write('SKIPPED: fault-injection tests (need PostgreSQL and Redis servers)\n');
const run = runnable ? describe : describe.skip;

jest.setTimeout(150_000);

const DEMO_PASSWORD = 'demo-password-1';
/** Shoppers checking out at once: the small demo shop's customers and a few who sign up. */
const SHOPPERS = 18;
/** Subgraphs in the order they are started: order last, since it prices carts at product-search and replays the demo history through inventory and payment. */
const START_ORDER: SubgraphName[] = ['customer', 'product-search', 'inventory', 'payment', 'recommendation', 'order'];
/** Statuses an order reaches only after its payment was authorized. */
const PAID = new Set(['CONFIRMED', 'SHIPPED', 'DELIVERED', 'REFUNDED']);
const SHIPPED = new Set(['SHIPPED', 'DELIVERED', 'REFUNDED']);

/**
 * A subgraph or the router in its own process, restartable with the same environment and
 * port. An exit the test did not cause is recorded and the process started again, as an
 * orchestrator would; the test reports it as a failure of the shop.
 */
class Service {
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
  ) {}

  get url(): string {
    return this.current?.url ?? `http://127.0.0.1:${this.port}/graphql`;
  }

  start(): Promise<void> {
    this.starting = this.launch();
    return this.starting;
  }

  private async launch(): Promise<void> {
    const started = await startProcess(this.script, this.args(this.port), this.env(this.port), 90_000);
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

/** Warnings and errors a process logged (pino levels 40 and up), and anything that is not a log line. */
function troubleLines(output: string, limit = 25): string[] {
  const lines = output.split('\n').filter((line) => {
    if (!line.trim()) return false;
    const level = /"level":(\d+)/.exec(line);
    return level ? Number(level[1]) >= 40 : true;
  });
  return lines.slice(-limit).map((line) => (line.length > 600 ? `${line.slice(0, 600)}…` : line));
}

type Row = Record<string, any>;

run('the shop under faults', () => {
  const shop = generateDemoShop(SMALL_SIZE);
  const prefix = `faults-${randomBytes(4).toString('hex')}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'faults-'));
  const services = new Map<SubgraphName, Service>();
  const databases = {} as Record<SubgraphName, string>;
  const keys = new Map<string, KeyRecord>();
  const orders = new Map<string, PlacedOrder>();
  let pg: TestPostgresServer | undefined;
  let redis: TestRedisServer | undefined;
  let router: Service | undefined;
  let client: RouterClient;
  let shoppers: Shopper[] = [];
  let adminToken: string;
  let load: CheckoutLoad | undefined;
  let phase = 0;

  const service = (name: SubgraphName) => services.get(name)!;
  const allProcesses = () => [...services.values(), ...(router ? [router] : [])];

  beforeAll(async () => {
    pg = await startTestPostgres();
    redis = await startTestRedis({ appendonly: true });
    for (const { name } of SUBGRAPHS) databases[name] = await pg.createDatabase(`shop_${envPrefix(name).toLowerCase()}`);

    const keyPair = generateTokenPems();
    const common = {
      NODE_ENV: 'test',
      DATA_DIR: dataDir,
      REDIS_URL: redis.url,
      EVENT_STREAM_PREFIX: prefix,
      SEED_DEMO: 'true',
      DEMO_SIZE: 'small',
      DEMO_PASSWORD,
      EVENT_RECLAIM_IDLE_MS: '1000',
      OUTBOX_POLL_MS: '100',
      SHUTDOWN_GRACE_MS: '2000',
      JWT_PUBLIC_KEY: keyPair.publicKey,
    };
    for (const name of START_ORDER) {
      services.set(
        name,
        new Service(name, `subgraphs/${name}/main.ts`, () => [], (port) => {
          const env: Record<string, string> = { ...common, [`${envPrefix(name)}_DATABASE_URL`]: databases[name], [`${envPrefix(name)}_PORT`]: String(port) };
          // Where the subgraphs started so far listen: order reaches product-search, inventory and payment.
          for (const [peer, other] of services) if (peer !== name && other.port) env[`${envPrefix(peer)}_PORT`] = String(other.port);
          if (name === 'customer') env.JWT_PRIVATE_KEY = keyPair.privateKey;
          return env;
        }),
      );
    }
    // Everything order depends on first, side by side; then order, which replays the demo history.
    const first = await Promise.allSettled(START_ORDER.filter((name) => name !== 'order').map((name) => service(name).start()));
    for (const outcome of first) if (outcome.status === 'rejected') throw outcome.reason;
    await service('order').start();
    await waitFor(
      'the demo order history to be replayed',
      () => {
        const log = service('order').output();
        if (log.includes('demo order history not replayed')) throw new Error(`the demo history failed:\n${troubleLines(log).join('\n')}`);
        return log.includes('replayed demo order history through checkout');
      },
      180_000,
    );

    const supergraph = path.join(dataDir, 'supergraph.graphql');
    fs.writeFileSync(supergraph, composeSupergraph((name) => `http://127.0.0.1:${services.get(name as SubgraphName)!.port}/graphql`));
    router = new Service('router', 'router/main.ts', (port) => ['--supergraph', supergraph, '--port', String(port)], () => ({
      NODE_ENV: 'test',
      JWT_PUBLIC_KEY: keyPair.publicKey,
      SHUTDOWN_GRACE_MS: '2000',
    }));
    await router.start();
    client = new RouterClient(router.url);

    const login = async (email: string) => {
      const res = await client.send('login', `mutation ($input: LoginInput!) { login(input: $input) { accessToken customer { id } } }`, {
        input: { email, password: DEMO_PASSWORD },
      });
      if (!res.data?.login) throw new Error(`${email} cannot sign in: ${res.codes.join(', ')}`);
      return { email, token: res.data.login.accessToken as string, customerId: res.data.login.customer.id as string };
    };
    adminToken = (await login('admin@demo.shop')).token;
    shoppers = [];
    for (const customer of shop.customers.filter((c) => !c.admin)) shoppers.push(await login(customer.email));
    while (shoppers.length < SHOPPERS) {
      const email = `fault-shopper-${shoppers.length}-${randomBytes(3).toString('hex')}@example.com`;
      const res = await client.send('register', `mutation ($input: RegisterInput!) { register(input: $input) { accessToken customer { id } } }`, {
        input: { email, password: DEMO_PASSWORD, name: `Fault Shopper ${shoppers.length}` },
      });
      if (!res.data?.register) throw new Error(`${email} cannot sign up: ${res.codes.join(', ')}`);
      shoppers.push({ email, token: res.data.register.accessToken, customerId: res.data.register.customer.id });
    }
    client.requests.length = 0;
  }, 300_000);

  afterAll(async () => {
    await load?.stop();
    for (const running of allProcesses().reverse()) await running.close().catch(() => undefined);
    await redis?.destroy().catch(() => undefined);
    await pg?.destroy().catch(() => undefined);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  /** Opens a connection to a subgraph's database for one piece of work. */
  async function withDatabase<T>(name: SubgraphName, work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
    const sql = postgres(databases[name], { max: 1, onnotice: () => {}, connect_timeout: 5 });
    try {
      return await work(sql);
    } finally {
      await sql.end({ timeout: 1 });
    }
  }

  async function withRedis<T>(work: (redis: Redis) => Promise<T>): Promise<T> {
    const connection = new Redis(redis!.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    connection.on('error', () => {});
    try {
      await connection.connect();
      return await work(connection);
    } finally {
      connection.disconnect();
    }
  }

  /** What keeps the shop from being settled now: pending orders, unpublished outboxes, unread or unacknowledged events, processes down. */
  async function unsettled(): Promise<string[]> {
    const open: string[] = [];
    try {
      const [pending] = await withDatabase('order', (sql) => sql<Row[]>`select count(*)::int as n from orders.orders where status = 'PENDING'`);
      if (pending!.n > 0) open.push(`${pending!.n} orders PENDING`);
      for (const [name, schema] of [['order', 'orders'], ['inventory', 'inventory'], ['payment', 'payment']] as const) {
        const [row] = await withDatabase(name, (sql) => sql<Row[]>`select count(*)::int as n from ${sql(schema)}.outbox where published_at is null`);
        if (row!.n > 0) open.push(`${row!.n} events unpublished in the ${name} outbox`);
      }
    } catch (error) {
      open.push(`PostgreSQL cannot be read: ${(error as Error).message}`);
    }
    try {
      open.push(...(await withRedis((r) => unfinishedGroups(r))));
    } catch (error) {
      open.push(`Redis cannot be read: ${(error as Error).message}`);
    }
    for (const running of allProcesses()) if (!running.alive()) open.push(`${running.name} is not running`);
    return open;
  }

  /** Consumer groups with events unread (lag) or read and not acknowledged (pending). */
  async function unfinishedGroups(r: Redis): Promise<string[]> {
    const open: string[] = [];
    const streams = await r.keys(`${prefix}:events:*`);
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
          open.push(`${stream.slice(prefix.length + 1)} group ${info.name}: ${info.pending} pending, lag ${info.lag}`);
        }
      }
    }
    return open;
  }

  /** Waits for the shop to settle; resolves what was still open when it gave up (empty when settled). */
  async function settle(): Promise<string[]> {
    let open: string[] = [];
    try {
      await waitFor(
        'the shop to settle',
        async () => {
          open = await unsettled();
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
  async function brokenInvariants(): Promise<string[]> {
    const broken: string[] = [];
    const phaseOf = (orderId: string) => orders.get(orderId)?.phase ?? 'demo history';
    const named = (ids: string[]) =>
      ids
        .slice(0, 8)
        .map((id) => `${id} (${phaseOf(id)})`)
        .join(', ') + (ids.length > 8 ? ` and ${ids.length - 8} more` : '');

    const { orderRows, lineRows, keyRows } = await withDatabase('order', async (sql) => ({
      orderRows: await sql<Row[]>`select id, customer_id, status, total_amount from orders.orders`,
      lineRows: await sql<Row[]>`select order_id, product_id, quantity from orders.order_lines`,
      keyRows: await sql<Row[]>`select customer_id, key, order_id from orders.idempotency_keys`,
    }));
    const { stockRows, reservationRows, reservedLineRows } = await withDatabase('inventory', async (sql) => ({
      stockRows: await sql<Row[]>`select product_id, warehouse_id, on_hand, reserved from inventory.stock_levels`,
      reservationRows: await sql<Row[]>`select order_id, status, confirmed_at from inventory.reservations`,
      reservedLineRows: await sql<Row[]>`select order_id, product_id, warehouse_id, quantity from inventory.reservation_lines`,
    }));
    const paymentRows = await withDatabase('payment', (sql) => sql<Row[]>`select order_id, status, amount, captured_amount from payment.payments`);

    const byId = new Map(orderRows.map((o) => [o.id as string, o]));
    const withStatus = (statuses: Set<string> | string[]) =>
      orderRows.filter((o) => (Array.isArray(statuses) ? statuses.includes(o.status) : statuses.has(o.status))).map((o) => o.id as string);

    // No order is left PENDING once the shop has settled.
    const pending = withStatus(['PENDING']);
    if (pending.length) broken.push(`${pending.length} orders still PENDING: ${named(pending)}`);

    // Stock: reserved is what open reservations hold; on hand is the seeded stock less what shipped.
    const seeded = new Map(shop.stock.map((s) => [`${s.productId} ${s.warehouseId}`, s.onHand]));
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
      const ledger = await withDatabase(
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
    const dead = await withRedis(async (r) => ({
      count: await r.xlen(`${prefix}:dead-letters`),
      entries: (await r.xrange(`${prefix}:dead-letters`, '-', '+', 'COUNT', 8)) as [string, string[]][],
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

  /**
   * Runs the load, injects `fault` once checkouts flow, keeps the load going until a
   * checkout sent after the fault is confirmed (and a few seconds after recovery), stops
   * it, waits for the shop to settle and checks every invariant. `fault` resolves once the
   * failed part is back.
   */
  async function underFault(name: string, fault: () => Promise<void>): Promise<void> {
    phase += 1;
    const problems: string[] = [];
    const exitsBefore = new Map(allProcesses().map((s) => [s.name, s.unexpectedExits.length]));
    const startedAt = Date.now();
    load = new CheckoutLoad({ client, shoppers, adminToken, productIds: shop.products.map((p) => p.id), phase: name, seed: phase * 7919, keys, orders });
    const current = load;
    let faultAt = startedAt;
    let recoveredAt = startedAt;
    let stoppedAt = startedAt;
    try {
      await waitFor(`checkouts to flow before ${name}`, () => current.placed().filter((o) => o.confirmedSeenAt).length >= 5, 30_000);
      faultAt = Date.now();
      await fault();
      recoveredAt = Date.now();
      await waitFor(
        `a checkout sent after ${name} to be confirmed`,
        () => Date.now() - recoveredAt >= 5_000 && current.placed().some((o) => o.sentAt >= faultAt && o.confirmedSeenAt !== undefined),
        45_000,
      );
    } catch (error) {
      problems.push((error as Error).message.split('\n')[0]!);
    } finally {
      stoppedAt = Date.now();
      await current.stop();
      load = undefined;
    }

    const cost = faultCost(name, client.requests, current.placed(), { startedAt, faultAt, recoveredAt, stoppedAt });
    const open = await settle();
    if (open.length) problems.push(`the shop did not settle within 60 s: ${open.join('; ')}`);
    problems.push(...(await brokenInvariants()));
    for (const s of allProcesses()) {
      const exits = s.unexpectedExits.slice(exitsBefore.get(s.name) ?? 0);
      if (exits.length) problems.push(`${s.name} exited on its own ${exits.length} time(s): ${exits.map((e) => `code ${e.code} signal ${e.signal}`).join(', ')}`);
    }

    const placed = current.placed();
    const statuses: Record<string, number> = {};
    for (const o of placed) statuses[o.lastSeenStatus ?? 'unseen'] = (statuses[o.lastSeenStatus ?? 'unseen'] ?? 0) + 1;
    process.stdout.write(
      `\n${formatFaultCost(cost)}\n  orders placed: ${placed.length} (as last seen by clients: ${JSON.stringify(statuses)}), ` +
        `keys sent more than once: ${[...keys.values()].filter((k) => k.sends > 1 && k.key.startsWith(name)).length}\n` +
        (problems.length ? `  broken:\n${problems.map((p) => `    - ${p}`).join('\n')}\n` : '  invariants hold\n'),
    );
    if (problems.length) {
      for (const s of allProcesses()) {
        const lines = troubleLines(s.output());
        if (lines.length) process.stdout.write(`\n--- ${s.name}: last warnings and errors ---\n${lines.join('\n')}\n`);
      }
    }
    expect(problems).toEqual([]);
  }

  const killAndRestart = (name: SubgraphName) => async () => {
    await service(name).kill();
    await service(name).start();
  };

  it('survives inventory being killed and restarted', () => underFault('inventory SIGKILL', killAndRestart('inventory')));

  it('survives order being killed and restarted', () => underFault('order SIGKILL', killAndRestart('order')));

  it('survives payment being killed and restarted', () => underFault('payment SIGKILL', killAndRestart('payment')));

  it('survives Redis being killed and restarted', () =>
    underFault('Redis SIGKILL', async () => {
      await redis!.kill();
      await sleep(3_000);
      await redis!.start();
    }));

  it('survives PostgreSQL crashing and starting again', () =>
    underFault('PostgreSQL crash', async () => {
      await pg!.crash();
      await sleep(4_000);
      await pg!.start();
    }));

});
