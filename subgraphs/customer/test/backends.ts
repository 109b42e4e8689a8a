import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { mongoAvailable, storeBackends, testDeps, TEST_MONGODB_URL, type StoreBackend, type TestDeps } from '../../../platform/testing';
import { openMongoCustomerStore } from '../store/mongo';
import type { CustomerStore } from '../store/port';
import { openCustomerStore } from '../subgraph';

/** A store the customer subgraph runs on: PostgreSQL's (PGlite or a server) or MongoDB. */
export type CustomerBackend = StoreBackend | 'mongodb';

/** Customer store backends available in this run; says once, loudly, what is skipped. */
export function customerBackends(): CustomerBackend[] {
  const postgresOnes: CustomerBackend[] = storeBackends();
  return mongoAvailable() ? [...postgresOnes, 'mongodb'] : postgresOnes;
}

/**
 * Test deps and an open customer store on `backend`, each run on a database of its own: a
 * fresh database on the PostgreSQL or MongoDB test server, dropped by `deps.release()`.
 */
export async function customerTestStore(
  backend: CustomerBackend,
): Promise<{ deps: TestDeps; store: CustomerStore; /** Where a MongoDB store keeps its collections. */ mongo?: { url: string; database: string } }> {
  if (backend !== 'mongodb') {
    const deps = await testDeps(backend, ['customer']);
    return { deps, store: await openCustomerStore(deps) };
  }
  if (!TEST_MONGODB_URL) throw new Error('TEST_MONGODB_URL is not set');
  const url = TEST_MONGODB_URL;
  const deps = await testDeps('pglite', [], { CUSTOMER_MONGODB_URL: url });
  const database = `test_customer_${randomBytes(6).toString('hex')}`;
  const store = await openMongoCustomerStore({
    url,
    database,
    poolSize: deps.config.MONGODB_POOL_SIZE,
    requestTimeoutMs: deps.config.STORE_REQUEST_TIMEOUT_MS,
    logger: deps.logger,
  });
  const releaseDeps = deps.release;
  deps.release = async () => {
    await store.close();
    const admin = new MongoClient(url, { serverSelectionTimeoutMS: deps.config.STORE_REQUEST_TIMEOUT_MS });
    try {
      await admin.db(database).dropDatabase();
    } finally {
      await admin.close();
    }
    await releaseDeps();
  };
  return { deps, store, mongo: { url, database } };
}
