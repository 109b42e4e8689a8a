import { serviceToken } from '../../platform/api-keys';
import { periodicWorker } from '../../platform/periodic';
import type { PubSub } from '../../platform/pubsub';
import { loadTypeDefs, openSubgraphDatabase, type SubgraphDeps, type SubgraphDefinition } from '../../platform/subgraph';
import type { CustomerContext } from './context';
import { ApiKeyService } from './api-keys';
import { CustomerService } from './customer-service';
import { apiKeyRoutes } from './internal-api';
import { openLoginThrottle, type LoginThrottle } from './login-throttle';
import type { PasswordHasher } from './password-hasher';
import { resolvers } from './resolvers';
import { seedCustomers } from './seed';
import type { CustomerStore } from './store/port';
import { openMongoCustomerStore } from './store/mongo';
import { CUSTOMER_MIGRATIONS, CUSTOMER_SCHEMA, postgresCustomerStore } from './store/postgres';

export const typeDefs = loadTypeDefs(__dirname);

/**
 * Opens customer's store: MongoDB at CUSTOMER_MONGODB_URL (the database its path names,
 * default `customer`) when set; otherwise PostgreSQL at CUSTOMER_DATABASE_URL, or embedded PGlite.
 */
export async function openCustomerStore(deps: SubgraphDeps): Promise<CustomerStore> {
  const mongoUrl = deps.config.CUSTOMER_MONGODB_URL;
  if (mongoUrl) {
    return openMongoCustomerStore({
      url: mongoUrl,
      poolSize: deps.config.MONGODB_POOL_SIZE,
      requestTimeoutMs: deps.config.STORE_REQUEST_TIMEOUT_MS,
      logger: deps.logger.child({ store: 'customer' }),
    });
  }
  return postgresCustomerStore(
    await openSubgraphDatabase(deps, 'customer', { schema: CUSTOMER_SCHEMA, migrationsFolder: CUSTOMER_MIGRATIONS }),
  );
}

/**
 * The customer subgraph on a given store; `service` is what seeding calls.
 * Passwords are hashed by `hasher`; default argon2id with OWASP parameters. Failed
 * sign-ins are counted by `throttle`; default on Redis with REDIS_URL, else in process.
 * Partner API key changes are announced on `deps.announce` when given.
 */
export function customerSubgraph(
  store: CustomerStore,
  deps: Pick<SubgraphDeps, 'tokens' | 'config' | 'logger'> & { announce?: PubSub },
  hasher?: PasswordHasher,
  throttle: LoginThrottle = openLoginThrottle(deps.config, deps.logger),
): SubgraphDefinition<CustomerContext> & { service: CustomerService } {
  // The customer subgraph is where tokens are issued: without the signing key it cannot sign anyone in.
  if (!deps.tokens.canIssue()) throw new Error('the customer subgraph needs JWT_PRIVATE_KEY to issue access tokens');
  // Sessions it ends must be refused everywhere: the process attaches its revocations to the tokens.
  const revocations = deps.tokens.revocations;
  if (!revocations) throw new Error('the customer subgraph needs session revocations attached to its access tokens');
  const logger = deps.logger.child({ subgraph: 'customer' });
  const customers = new CustomerService(
    store,
    deps.tokens,
    {
      revocations,
      throttle,
      refreshTokenTtlDays: deps.config.REFRESH_TOKEN_TTL_DAYS,
      accessTokenTtlSeconds: deps.tokens.ttlSeconds,
      logger,
    },
    hasher,
  );
  const apiKeys = new ApiKeyService(store, { ...(deps.announce ? { announce: deps.announce } : {}), logger });
  return {
    name: 'customer',
    typeDefs,
    resolvers,
    stores: [store, throttle],
    context: (base) => ({ ...base, customers, apiKeys, loaders: customers.loaders() }),
    routes: apiKeyRoutes(apiKeys, serviceToken(deps.config)),
    service: customers,
    seed: ({ shop, password, nodeEnv }) => seedCustomers(customers, shop, password, nodeEnv),
    workers: [
      {
        name: 'recall-ended-sessions',
        start: async () => {
          await customers.recallEndedSessions();
        },
        stop: async () => {},
      },
      periodicWorker('session-sweeper', deps.config.SESSION_SWEEP_INTERVAL_SECONDS * 1000, () => customers.deleteStaleSessions(), logger),
    ],
  };
}

export async function createCustomerSubgraph(deps: SubgraphDeps) {
  return customerSubgraph(await openCustomerStore(deps), { ...deps, announce: await deps.pubsub() });
}
