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
import { randomBytes } from 'node:crypto';
import { canRunServers } from '../../platform/test-servers';
import { sleep, waitFor } from '../../platform/testing';
import type { SubgraphName } from '../../schema/subgraphs';
import { startShopTopology, troubleLines, type ShopTopology } from '../topology';
import { CheckoutLoad, faultCost, formatFaultCost, type KeyRecord, type PlacedOrder, type Shopper } from './fault-load';

const servers = canRunServers();
const runnable = servers.postgres && servers.redis;
if (!runnable) process.stderr.write('SKIPPED: fault-injection tests (need PostgreSQL and Redis servers)\n');
const run = runnable ? describe : describe.skip;

jest.setTimeout(150_000);

/** Shoppers checking out at once: the small demo shop's customers and a few who sign up. */
const SHOPPERS = 18;

run('the shop under faults', () => {
  let topology: ShopTopology;
  const keys = new Map<string, KeyRecord>();
  const orders = new Map<string, PlacedOrder>();
  let shoppers: Shopper[] = [];
  let adminToken: string;
  let load: CheckoutLoad | undefined;
  let phase = 0;

  beforeAll(async () => {
    // Failed deliveries are taken over quickly, so a fault's cost shows within the test.
    topology = await startShopTopology({ name: 'faults', env: { EVENT_RECLAIM_IDLE_MS: '1000', OUTBOX_POLL_MS: '100' } });
    adminToken = (await topology.login('admin@demo.shop')).token;
    shoppers = [];
    for (const customer of topology.shop.customers.filter((c) => !c.admin)) shoppers.push(await topology.login(customer.email));
    while (shoppers.length < SHOPPERS) {
      const email = `fault-shopper-${shoppers.length}-${randomBytes(3).toString('hex')}@example.com`;
      shoppers.push(await topology.register(email, `Fault Shopper ${shoppers.length}`));
    }
    topology.client.requests.length = 0;
  }, 300_000);

  afterAll(async () => {
    await load?.stop();
    await topology?.close();
  }, 60_000);

  /**
   * Runs the load, injects `fault` once checkouts flow, keeps the load going until a
   * checkout sent after the fault is confirmed (and a few seconds after recovery), stops
   * it, waits for the shop to settle and checks every invariant. `fault` resolves once the
   * failed part is back.
   */
  async function underFault(name: string, fault: () => Promise<void>): Promise<void> {
    phase += 1;
    const problems: string[] = [];
    const exitsBefore = new Map(topology.allProcesses().map((s) => [s.name, s.unexpectedExits.length]));
    const startedAt = Date.now();
    load = new CheckoutLoad({ client: topology.client, shoppers, adminToken, productIds: topology.shop.products.map((p) => p.id), phase: name, seed: phase * 7919, keys, orders });
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

    const cost = faultCost(name, topology.client.requests, current.placed(), { startedAt, faultAt, recoveredAt, stoppedAt });
    const open = await topology.settle();
    if (open.length) problems.push(`the shop did not settle within 60 s: ${open.join('; ')}`);
    problems.push(...(await topology.brokenInvariants({ keys, orders })));
    for (const s of topology.allProcesses()) {
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
      for (const s of topology.allProcesses()) {
        const lines = troubleLines(s.output());
        if (lines.length) process.stdout.write(`\n--- ${s.name}: last warnings and errors ---\n${lines.join('\n')}\n`);
      }
    }
    expect(problems).toEqual([]);
  }

  const killAndRestart = (name: SubgraphName) => async () => {
    await topology.service(name).kill();
    await topology.service(name).start();
  };

  it('survives inventory being killed and restarted', () => underFault('inventory SIGKILL', killAndRestart('inventory')));

  it('survives order being killed and restarted', () => underFault('order SIGKILL', killAndRestart('order')));

  it('survives payment being killed and restarted', () => underFault('payment SIGKILL', killAndRestart('payment')));

  it('survives Redis being killed and restarted', () =>
    underFault('Redis SIGKILL', async () => {
      await topology.redis.kill();
      await sleep(3_000);
      await topology.redis.start();
    }));

  it('survives PostgreSQL crashing and starting again', () =>
    underFault('PostgreSQL crash', async () => {
      await topology.pg.crash();
      await sleep(4_000);
      await topology.pg.start();
    }));

});
