/**
 * Two router processes and two replicas of the inventory subgraph, as containers would
 * run them, sharing PostgreSQL and Redis: a stock change made through one replica reaches
 * subscribers on both routers, exactly once each.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { AccessTokens, generateTokenPems, loadTokenKeys } from '../../platform/auth';
import { createTestDatabase, liveClient, postGraphQL, TEST_DATABASE_URL } from '../../platform/testing';
import { startProcess, type ServiceProcess } from '../../platform/test-processes';
import { typeDefs as inventoryTypeDefs } from '../../subgraphs/inventory/subgraph';
import { generateDemoShop } from '../../platform/demo-shop';
import { TEST_REDIS_URL } from '../testing';

const run = TEST_DATABASE_URL && TEST_REDIS_URL ? describe : describe.skip;
if (!(TEST_DATABASE_URL && TEST_REDIS_URL)) {
  process.stderr.write('SKIPPED: two-replica fan-out on Redis (set TEST_DATABASE_URL and TEST_REDIS_URL)\n');
}

jest.setTimeout(180_000);

run('replicas on Redis', () => {
  const processes: ServiceProcess[] = [];
  let dropDatabase: (() => Promise<void>) | undefined;
  let routers: string[] = [];
  let admin: string;
  const shop = generateDemoShop();
  const product = shop.products[0]!;
  const warehouse = shop.warehouses[0]!;

  beforeAll(async () => {
    const database = await createTestDatabase();
    dropDatabase = database.drop;
    const { privateKey: privatePem, publicKey: publicPem } = generateTokenPems();
    const tokens = new AccessTokens(await loadTokenKeys({ JWT_PRIVATE_KEY: privatePem, JWT_PUBLIC_KEY: publicPem, DATA_DIR: '/nonexistent' }), {
      issuer: 'commerce-supergraph',
      ttlSeconds: 900,
    });
    admin = `Bearer ${(await tokens.issue('admin-1', ['customer', 'admin'])).token}`;

    const env = {
      INVENTORY_DATABASE_URL: database.url,
      REDIS_URL: TEST_REDIS_URL!,
      EVENT_STREAM_PREFIX: `replicas-${randomBytes(6).toString('hex')}`,
      JWT_PUBLIC_KEY: publicPem,
      INVENTORY_PORT: '0',
      DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'replica-')),
    };
    // The first replica seeds the store; the second finds it seeded.
    const first = await startProcess('subgraphs/inventory/main.ts', [], { ...env, SEED_DEMO: 'true' });
    processes.push(first);
    const second = await startProcess('subgraphs/inventory/main.ts', [], { ...env, SEED_DEMO: 'false' });
    processes.push(second);

    routers = [];
    for (const replica of [first, second]) {
      const composed = composeServices([{ name: 'inventory', url: replica.url, typeDefs: inventoryTypeDefs }]);
      if (composed.errors) throw new Error(composed.errors.map((e) => e.message).join('\n'));
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'supergraph-')), 'supergraph.graphql');
      fs.writeFileSync(file, composed.supergraphSdl!);
      const router = await startProcess('router/main.ts', ['--supergraph', file, '--port', '0'], { JWT_PUBLIC_KEY: publicPem });
      processes.push(router);
      routers.push(router.url);
    }
  });

  afterAll(async () => {
    for (const service of processes.reverse()) expect(await service.stop()).toBe(0);
    await dropDatabase?.();
  });

  it('delivers a change made on one replica to subscribers of both routers, once each', async () => {
    const watch = `subscription ($id: ID!) { stockChanged(productId: $id) { id availableQuantity } }`;
    const clients = routers.map((url) => liveClient(url));
    const receivers = clients.map((c) => c.subscribe<{ stockChanged: { id: string; availableQuantity: number } }>(watch, { id: product.id }));
    // Give both subgraph replicas time to subscribe to the product's topic on Redis.
    await new Promise((resolve) => setTimeout(resolve, 1500));

    const set = await postGraphQL(
      routers[1]!,
      `mutation ($input: SetStockInput!) { setStock(input: $input) { onHand } }`,
      { input: { productId: product.id, warehouseId: warehouse.id, onHand: 4321 } },
      { authorization: admin },
    );
    expect(set.errors).toBeUndefined();
    const others = shop.stock.filter((s) => s.productId === product.id && s.warehouseId !== warehouse.id).reduce((n, s) => n + s.onHand, 0);

    for (const receiver of receivers) {
      const [payload] = await receiver.waitFor(1, 15_000);
      expect(payload!.data!.stockChanged).toEqual({ id: product.id, availableQuantity: 4321 + others });
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(receivers.map((r) => r.payloads.length)).toEqual([1, 1]);
    await Promise.all(clients.map((c) => c.dispose()));
  });
});
