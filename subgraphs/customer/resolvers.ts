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
  ApiKey: {
    createdAt: (key) => key.createdAt.toISOString(),
    lastUsedAt: (key) => key.lastUsedAt?.toISOString() ?? null,
    revokedAt: (key) => key.revokedAt?.toISOString() ?? null,
  },
  AuthPayload: {
    expiresAt: (payload) => payload.expiresAt.toISOString(),
    refreshExpiresAt: (payload) => payload.refreshExpiresAt.toISOString(),
  },
  Query: {
    me: (_root, _args, { customers, viewer, loaders }) => customers.me(viewer, loaders),
    apiKeys: (_root, _args, { apiKeys, viewer }) => apiKeys.list(viewer),
  },
  Mutation: {
    register: (_root, { input }, { customers, client }) => customers.register(input, client),
    login: (_root, { input }, { customers, client }) => customers.login(input, client),
    refreshSession: (_root, { refreshToken }, { customers }) => customers.refreshSession(refreshToken),
    logout: (_root, _args, { customers, viewer }) => customers.logout(viewer),
    logoutEverywhere: (_root, _args, { customers, viewer }) => customers.logoutEverywhere(viewer),
    changePassword: (_root, { input }, { customers, viewer, client }) => customers.changePassword(viewer, input, client),
    revokeCustomerSessions: (_root, { customerId }, { customers, viewer }) => customers.revokeCustomerSessions(viewer, customerId),
    createApiKey: (_root, { input }, { apiKeys, viewer }) => apiKeys.create(viewer, input),
    revokeApiKey: (_root, { id }, { apiKeys, viewer }) => apiKeys.revoke(viewer, id),
    addAddress: (_root, { input }, { customers, viewer, loaders }) => customers.addAddress(viewer, input, loaders),
  },
};
