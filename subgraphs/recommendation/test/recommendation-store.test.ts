import { recommendationStoreContract } from './recommendation-store.contract';
import { recommendationStores } from './stores';

describe.each(recommendationStores())('RecommendationStore on %s', (_name, open) => {
  recommendationStoreContract(open);
});
