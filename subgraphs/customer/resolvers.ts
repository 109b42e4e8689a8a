import type { Resolvers } from './generated/resolvers-types';

/** Thin: read arguments and context, call the customer service. */
export const resolvers: Resolvers = {
  Customer: {
    __resolveReference: (ref, { loaders }) => loaders.customers.load(ref.id),
    email: (customer, _args, { customers, viewer }) => customers.email(viewer, customer),
    addresses: (customer, _args, { customers, viewer }) => customers.addresses(viewer, customer),
    createdAt: (customer) => customer.createdAt.toISOString(),
  },
  AuthPayload: {
    expiresAt: (payload) => payload.expiresAt.toISOString(),
  },
  Query: {
    me: (_root, _args, { customers, viewer, loaders }) => customers.me(viewer, loaders),
  },
  Mutation: {
    register: (_root, { input }, { customers }) => customers.register(input),
    login: (_root, { input }, { customers }) => customers.login(input),
    addAddress: (_root, { input }, { customers, viewer, loaders }) => customers.addAddress(viewer, input, loaders),
  },
};
