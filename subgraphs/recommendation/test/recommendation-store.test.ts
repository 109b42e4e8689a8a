import { storeBackends, testDeps } from '../../../platform/testing';
import { openRecommendationStore } from '../subgraph';
import { recommendationStoreContract } from './recommendation-store.contract';

describe.each(storeBackends())('RecommendationStore on %s', (backend) => {
  recommendationStoreContract(async () => {
    const deps = await testDeps(backend, ['recommendation']);
    const store = await openRecommendationStore(deps);
    return {
      store,
      release: async () => {
        await store.close();
        await deps.release();
      },
    };
  });
});
