import { createServer } from 'node:net';
import { MongoClient, type Db } from 'mongodb';
import { isStoreUnavailable } from '../../../platform/store-unavailable';
import { mongoAvailable, testDeps } from '../../../platform/testing';
import { databaseNameIn } from '../../../platform/mongo';
import { CUSTOMER_COLLECTIONS, openMongoCustomerStore } from '../store/mongo';
import { openCustomerStore } from '../subgraph';
import { customerTestStore } from './backends';

/** A local port nothing listens on: connecting to it is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('the database a MongoDB URL names', () => {
  it.each([
    ['mongodb://mongo:27017/customer?replicaSet=rs0', 'customer'],
    ['mongodb://user:p%40ss@mongo-1:27017,mongo-2:27017/shop_customers?replicaSet=rs0&authSource=admin', 'shop_customers'],
    ['mongodb+srv://user:secret@cluster0.example.net/customer-eu?retryWrites=true', 'customer-eu'],
    ['mongodb://mongo:27017/my%20db', 'my db'],
  ])('reads %s as %s', (url, name) => {
    expect(databaseNameIn(url)).toBe(name);
  });

  it.each(['mongodb://mongo:27017', 'mongodb://mongo:27017/', 'mongodb://mongo:27017/?replicaSet=rs0', 'mongodb://mongo:27017?replicaSet=rs0'])(
    'finds none in %s',
    (url) => {
      expect(databaseNameIn(url)).toBeUndefined();
    },
  );
});

describe('the customer subgraph with CUSTOMER_MONGODB_URL', () => {
  it('opens its store on MongoDB, and fails to start, as an outage, within the timeout when no server answers', async () => {
    const deps = await testDeps('pglite', [], {
      CUSTOMER_MONGODB_URL: `mongodb://127.0.0.1:${await closedPort()}/customer?replicaSet=rs0`,
      STORE_REQUEST_TIMEOUT_MS: '300',
    });
    const started = Date.now();
    const failure = await openCustomerStore(deps).then(
      () => new Error('the store opened without a server'),
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ name: 'MongoServerSelectionError' });
    expect(isStoreUnavailable(failure)).toBe(true);
    expect(Date.now() - started).toBeLessThan(3000);
    await deps.release();
  });
});

(mongoAvailable() ? describe : describe.skip)('the customer store on a MongoDB server', () => {
  /** Every index of the store's collections, by collection, as the server describes them. */
  async function indexesIn(db: Db) {
    const entries = await Promise.all(
      Object.values(CUSTOMER_COLLECTIONS).map(async ({ name }) => {
        const list = await db.collection(name).indexes();
        return [name, list.sort((a, b) => String(a.name).localeCompare(String(b.name)))] as const;
      }),
    );
    return Object.fromEntries(entries);
  }

  it('creates its collections’ indexes at start, and opening it again changes nothing', async () => {
    const { deps, store, mongo } = await customerTestStore('mongodb');
    const client = new MongoClient(mongo!.url);
    try {
      const db = client.db(mongo!.database);
      const first = await indexesIn(db);
      expect(first.customers).toContainEqual(expect.objectContaining({ name: 'customers_email_key_unique', key: { emailKey: 1 }, unique: true }));
      expect(first.sessions).toContainEqual(
        expect.objectContaining({ name: 'sessions_refresh_expiry_ttl', key: { refreshExpiresAt: 1 }, expireAfterSeconds: 0 }),
      );
      expect(first.sessions).toContainEqual(expect.objectContaining({ name: 'sessions_refresh_hash_unique', unique: true }));
      expect(first.api_keys).toContainEqual(expect.objectContaining({ name: 'api_keys_secret_hash_unique', unique: true }));

      const again = await openMongoCustomerStore({ ...mongo!, poolSize: 2, requestTimeoutMs: 5000, logger: deps.logger });
      expect(await again.ready()).toBe(true);
      await again.close();
      expect(await indexesIn(db)).toEqual(first);
    } finally {
      await client.close();
      await store.close();
      expect(await store.ready()).toBe(false);
      await deps.release();
    }
  });
});
