import { loadTypeDefs, openSubgraphDatabase, type SubgraphDeps, type SubgraphDefinition } from '../../platform/subgraph';
import type { RecommendationContext } from './context';
import { RecommendationService } from './recommendation-service';
import { resolvers } from './resolvers';
import { seedRecommendations } from './seed';
import type { RecommendationStore } from './store/port';
import { RECOMMENDATION_MIGRATIONS, RECOMMENDATION_SCHEMA, postgresRecommendationStore } from './store/postgres';

export const typeDefs = loadTypeDefs(__dirname);

/** Opens recommendation's store: PostgreSQL at RECOMMENDATION_DATABASE_URL, or embedded PGlite. */
export async function openRecommendationStore(deps: SubgraphDeps): Promise<RecommendationStore> {
  return postgresRecommendationStore(
    await openSubgraphDatabase(deps, 'recommendation', {
      schema: RECOMMENDATION_SCHEMA,
      migrationsFolder: RECOMMENDATION_MIGRATIONS,
    }),
  );
}

/** The recommendation subgraph on a given store; `service` is what seeding and event handlers call. */
export function recommendationSubgraph(
  store: RecommendationStore,
): SubgraphDefinition<RecommendationContext> & { service: RecommendationService } {
  const recommendations = new RecommendationService(store);
  return {
    name: 'recommendation',
    service: recommendations,
    typeDefs,
    resolvers,
    stores: [store],
    context: (base) => ({ ...base, recommendations, loaders: recommendations.loaders() }),
    seed: ({ shop }) => seedRecommendations(recommendations, shop),
  };
}

export async function createRecommendationSubgraph(deps: SubgraphDeps) {
  return recommendationSubgraph(await openRecommendationStore(deps));
}
