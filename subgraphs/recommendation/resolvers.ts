import type { Resolvers } from './generated/resolvers-types';

const references = (ids: string[]) => ids.map((id) => ({ id }));

/** Thin: read arguments and context, call the recommendation service. */
export const resolvers: Resolvers = {
  Product: {
    __resolveReference: (ref) => ({ id: ref.id }),
    recommendations: async ({ id }, { first }, { recommendations, loaders }) =>
      references(await recommendations.productRecommendations(id, first, loaders)),
  },
  Customer: {
    __resolveReference: (ref) => ({ id: ref.id }),
    recommendations: async ({ id }, { first }, { recommendations, viewer, loaders }) =>
      references(await recommendations.customerRecommendations(viewer, id, first, loaders)),
  },
};
