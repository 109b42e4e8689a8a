/**
 * A compose-style deployment replays the demo order history too: catalog, inventory,
 * payment and order each in a process of its own on PostgreSQL, events on Redis Streams.
 * The order process waits for the others, then places, confirms, ships and delivers every
 * past order through the same saga as a live checkout; started again, it replays nothing.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { generateDemoShop, SMALL_SIZE } from '../../../platform/demo-shop';
import { TEST_REDIS_URL } from '../../../embedded/testing';
import { generateTokenPems } from '../../../platform/auth';
import { startProcess, type ServiceProcess } from '../../../platform/test-processes';
import { createTestDatabase, TEST_DATABASE_URL } from '../../../platform/testing';

const run = TEST_DATABASE_URL && TEST_REDIS_URL ? describe : describe.skip;
if (!(TEST_DATABASE_URL && TEST_REDIS_URL)) {
  process.stderr.write('SKIPPED: demo order history across processes (set TEST_DATABASE_URL and TEST_REDIS_URL)\n');
}

jest.setTimeout(300_000);

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

run('demo order history in separate processes', () => {
  const processes: ServiceProcess[] = [];
  let sql: postgres.Sql | undefined;
  let dropDatabase: (() => Promise<void>) | undefined;
  let env: Record<string, string>;
  const shop = generateDemoShop(SMALL_SIZE);

  const statuses = async () =>
    Object.fromEntries((await sql!`select status, count(*)::int as n from orders.orders group by status`).map((r) => [r.status, r.n]));

  beforeAll(async () => {
    const database = await createTestDatabase();
    dropDatabase = database.drop;
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    const keys = generateTokenPems();
    env = {
      REDIS_URL: TEST_REDIS_URL!,
      EVENT_STREAM_PREFIX: `history-${randomBytes(6).toString('hex')}`,
      EVENT_RECLAIM_IDLE_MS: '300',
      JWT_PUBLIC_KEY: keys.publicKey,
      SEED_DEMO: 'true',
      DEMO_SIZE: 'small',
      DEMO_PASSWORD: 'a-demo-password-for-tests',
      DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'history-')),
      // One server, a schema per subgraph, as the embedded store keeps them.
      PRODUCT_SEARCH_DATABASE_URL: database.url,
      INVENTORY_DATABASE_URL: database.url,
      ORDER_DATABASE_URL: database.url,
      PAYMENT_DATABASE_URL: database.url,
      ORDER_PORT: '0',
    };
    // Ports known in advance, so the order process (started first: its replay waits until
    // the others are ready) can be told where they will listen.
    for (const name of ['PRODUCT_SEARCH', 'INVENTORY', 'PAYMENT']) {
      const port = await freePort();
      env[`${name}_PORT`] = String(port);
      env[`${name}_URL`] = `http://127.0.0.1:${port}/graphql`;
    }
    processes.push(await startProcess('subgraphs/order/main.ts', [], env));
    processes.push(await startProcess('subgraphs/product-search/main.ts', [], env));
    processes.push(await startProcess('subgraphs/inventory/main.ts', [], env));
    processes.push(await startProcess('subgraphs/payment/main.ts', [], env));
  });

  afterAll(async () => {
    for (const service of processes.reverse()) expect(await service.stop()).toBe(0);
    await sql?.end();
    await dropDatabase?.();
  });

  it('places, pays, ships and delivers every past order once the other subgraphs are up', async () => {
    const order = processes[0]!;
    expect(order.output()).toContain('demo order history waits for the subgraphs checkout needs');
    await until(async () => order.output(), (out) => out.includes('replayed demo order history through checkout'), 'the replay to finish', 240_000);

    expect(await statuses()).toEqual({ DELIVERED: shop.orders.length });
    // Every order's total captured once, by the payment subgraph, from the events alone.
    const [totals] = await sql!`select sum(total_amount)::bigint as total from orders.orders`;
    const [payments] = await sql!`select count(*)::int as n, sum(captured_amount)::bigint as captured from payment.payments where status = 'CAPTURED'`;
    expect({ n: payments!.n, captured: Number(payments!.captured) }).toEqual({ n: shop.orders.length, captured: Number(totals!.total) });
    // Each order was placed at its own past time.
    const placed = await sql!`select placed_at from orders.orders order by placed_at`;
    expect(placed.map((r) => new Date(r.placed_at).getTime())).toEqual(shop.orders.map((o) => o.placedAt.getTime()).sort((a, b) => a - b));
  });

  it('replays nothing when started again on a store that has orders', async () => {
    const first = processes.shift()!;
    expect(await first.stop()).toBe(0);
    const again = await startProcess('subgraphs/order/main.ts', [], env);
    processes.unshift(again);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(again.output()).not.toContain('replaying demo order history');
    expect(await statuses()).toEqual({ DELIVERED: shop.orders.length });
  });
});
