import { eventConsumer } from '../../platform/outbox-relay';
import { loadTypeDefs, openSubgraphDatabase, type SubgraphDeps, type SubgraphDefinition } from '../../platform/subgraph';
import type { RecommendationContext } from './context';
import { RECOMMENDATION_CONSUMER_GROUP, RECOMMENDATION_EVENT_TYPES, RecommendationService } from './recommendation-service';
import { resolvers } from './resolvers';
import type { RecommendationStore } from './store/port';
import { RECOMMENDATION_MIGRATIONS, RECOMMENDATION_SCHEMA, postgresRecommendationStore } from './store/postgres';
import { redisRecommendationStore } from './store/redis';

export const typeDefs = loadTypeDefs(__dirname);

/**
 * Opens recommendation's store: Redis sorted sets at RECOMMENDATION_REDIS_URL, else
 * PostgreSQL at RECOMMENDATION_DATABASE_URL, else embedded PGlite.
 */
export async function openRecommendationStore(deps: SubgraphDeps): Promise<RecommendationStore> {
  const redisUrl = deps.config.RECOMMENDATION_REDIS_URL;
  if (redisUrl) {
    return redisRecommendationStore({ url: redisUrl, logger: deps.logger, retentionSeconds: deps.config.PROCESSED_MESSAGE_RETENTION_SECONDS });
  }
  return postgresRecommendationStore(
    await openSubgraphDatabase(deps, 'recommendation', {
      schema: RECOMMENDATION_SCHEMA,
      migrationsFolder: RECOMMENDATION_MIGRATIONS,
    }),
  );
}

/**
 * The recommendation subgraph on a given store, with its workers: the 'recommendation'
 * consumer that learns purchases from OrderPlaced and OrderConfirmed, and the deletion of
 * the records it keeps of them once past their retention. `service` is what the consumer calls.
 */
export function recommendationSubgraph(
  store: RecommendationStore,
  deps: Pick<SubgraphDeps, 'logger' | 'config' | 'events'>,
): SubgraphDefinition<RecommendationContext> & { service: RecommendationService } {
  const recommendations = new RecommendationService(store, deps.logger.child({ component: 'recommendation-events' }));
  const consumer = eventConsumer(
    deps.events,
    RECOMMENDATION_CONSUMER_GROUP,
    RECOMMENDATION_EVENT_TYPES,
    (event) => recommendations.handleEvent(event),
    { maxDeliveries: deps.config.EVENT_MAX_DELIVERIES },
  );
  return {
    name: 'recommendation',
    service: recommendations,
    typeDefs,
    resolvers,
    stores: [store],
    context: (base) => ({ ...base, recommendations, loaders: recommendations.loaders() }),
    workers: [consumer, ...(store.eventRetention ? [store.eventRetention(deps.config, deps.logger)] : [])],
  };
}

export async function createRecommendationSubgraph(deps: SubgraphDeps) {
  return recommendationSubgraph(await openRecommendationStore(deps), deps);
}
