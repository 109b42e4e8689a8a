import type { RequestContext } from '../../platform/context';
import type { RecommendationLoaders, RecommendationService } from './recommendation-service';

/** What recommendation resolvers receive for one request. */
export interface RecommendationContext extends RequestContext {
  recommendations: RecommendationService;
  loaders: RecommendationLoaders;
}
