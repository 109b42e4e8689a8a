import { randomBytes } from 'node:crypto';
import { TEST_REDIS_URL } from '../../../embedded/testing';
import { silentLogger } from '../../../platform/logger';
import { storeBackends, testDeps } from '../../../platform/testing';
import type { RecommendationStore } from '../store/port';
import { redisRecommendationStore } from '../store/redis';
import { openRecommendationStore } from '../subgraph';

export type OpenStore = () => Promise<{ store: RecommendationStore; release(): Promise<void> }>;

/**
 * Every recommendation store this run can reach, by name: PGlite, PostgreSQL where
 * TEST_DATABASE_URL is set, and Redis sorted sets where TEST_REDIS_URL is set.
 */
export function recommendationStores(): [string, OpenStore][] {
  const stores: [string, OpenStore][] = storeBackends().map((backend) => [
    backend,
    async () => {
      const deps = await testDeps(backend, ['recommendation']);
      const store = await openRecommendationStore(deps);
      return {
        store,
        release: async () => {
          await store.close();
          await deps.release();
        },
      };
    },
  ]);
  if (!TEST_REDIS_URL) {
    process.stderr.write('SKIPPED: recommendation store on Redis (set TEST_REDIS_URL)\n');
    return stores;
  }
  stores.push([
    'redis',
    async () => {
      // Keys of this run only, under a hash tag of their own.
      const prefix = `{recommendation-test-${randomBytes(6).toString('hex')}}`;
      const store = redisRecommendationStore({ url: TEST_REDIS_URL!, logger: silentLogger(), prefix });
      return { store, release: () => store.close() };
    },
  ]);
  return stores;
}
