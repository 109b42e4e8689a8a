import { loadTypeDefs, openSubgraphDatabase, type SubgraphDeps, type SubgraphDefinition } from '../../platform/subgraph';
import type { CustomerContext } from './context';
import { CustomerService } from './customer-service';
import type { PasswordHasher } from './password-hasher';
import { resolvers } from './resolvers';
import { seedCustomers } from './seed';
import type { CustomerStore } from './store/port';
import { CUSTOMER_MIGRATIONS, CUSTOMER_SCHEMA, postgresCustomerStore } from './store/postgres';

export const typeDefs = loadTypeDefs(__dirname);

/** Opens customer's store: PostgreSQL at CUSTOMER_DATABASE_URL, or embedded PGlite. */
export async function openCustomerStore(deps: SubgraphDeps): Promise<CustomerStore> {
  return postgresCustomerStore(
    await openSubgraphDatabase(deps, 'customer', { schema: CUSTOMER_SCHEMA, migrationsFolder: CUSTOMER_MIGRATIONS }),
  );
}

/**
 * The customer subgraph on a given store; `service` is what seeding calls.
 * Passwords are hashed by `hasher`; default argon2id with OWASP parameters.
 */
export function customerSubgraph(
  store: CustomerStore,
  deps: Pick<SubgraphDeps, 'tokens'>,
  hasher?: PasswordHasher,
): SubgraphDefinition<CustomerContext> & { service: CustomerService } {
  // The customer subgraph is where tokens are issued: without the signing key it cannot sign anyone in.
  if (!deps.tokens.canIssue()) throw new Error('the customer subgraph needs JWT_PRIVATE_KEY to issue access tokens');
  const customers = new CustomerService(store, deps.tokens, hasher);
  return {
    name: 'customer',
    typeDefs,
    resolvers,
    stores: [store],
    context: (base) => ({ ...base, customers, loaders: customers.loaders() }),
    service: customers,
    seed: ({ shop, password, nodeEnv }) => seedCustomers(customers, shop, password, nodeEnv),
  };
}

export async function createCustomerSubgraph(deps: SubgraphDeps) {
  return customerSubgraph(await openCustomerStore(deps), deps);
}
