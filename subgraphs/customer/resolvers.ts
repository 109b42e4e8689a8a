import type { Resolvers } from './generated/resolvers-types';

/** Thin: read arguments and context, call the customer service. */
export const resolvers: Resolvers = {
  Customer: {
    __resolveReference: (ref, { loaders }) => loaders.customers.load(ref.id),
    email: (customer, _args, { customers, viewer }) => customers.email(viewer, customer),
    addresses: (customer, _args, { customers, viewer }) => customers.addresses(viewer, customer),
    createdAt: (customer) => customer.createdAt.toISOString(),
    sessions: (customer, _args, { customers, viewer }) => customers.sessionsOf(viewer, customer),
  },
  Session: {
    createdAt: (session) => session.createdAt.toISOString(),
    lastUsedAt: (session) => session.lastUsedAt.toISOString(),
  },
  AuthPayload: {
    expiresAt: (payload) => payload.expiresAt.toISOString(),
    refreshExpiresAt: (payload) => payload.refreshExpiresAt.toISOString(),
  },
  Query: {
    me: (_root, _args, { customers, viewer, loaders }) => customers.me(viewer, loaders),
  },
  Mutation: {
    register: (_root, { input }, { customers, client }) => customers.register(input, client),
    login: (_root, { input }, { customers, client }) => customers.login(input, client),
    refreshSession: (_root, { refreshToken }, { customers }) => customers.refreshSession(refreshToken),
    logout: (_root, _args, { customers, viewer }) => customers.logout(viewer),
    logoutEverywhere: (_root, _args, { customers, viewer }) => customers.logoutEverywhere(viewer),
    changePassword: (_root, { input }, { customers, viewer, client }) => customers.changePassword(viewer, input, client),
    revokeCustomerSessions: (_root, { customerId }, { customers, viewer }) => customers.revokeCustomerSessions(viewer, customerId),
    addAddress: (_root, { input }, { customers, viewer, loaders }) => customers.addAddress(viewer, input, loaders),
  },
};
