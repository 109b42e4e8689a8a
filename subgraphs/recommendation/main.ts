import { runSubgraph } from '../../platform/main';
import { createRecommendationSubgraph } from './subgraph';

runSubgraph('recommendation', createRecommendationSubgraph);
