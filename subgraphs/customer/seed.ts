import type { DemoShop } from '../../platform/demo-shop-types';
import type { CustomerService } from './customer-service';

/** The demo accounts' default password: public, so never good enough for a real shop. */
export const DEFAULT_DEMO_PASSWORD = 'demo-password-1';

/** Refuses the published demo password in production, where it would open every seeded account. */
export function assertDemoPasswordAllowed(nodeEnv: string | undefined, password: string): void {
  if (nodeEnv === 'production' && password === DEFAULT_DEMO_PASSWORD) {
    throw new Error(`Refusing to seed demo customers with the default password in production: set DEMO_PASSWORD.`);
  }
}

/**
 * Writes the demo shop's customers through the service (validated, each password
 * hashed with its own salt; admins get the admin scope). Does nothing when customers
 * exist: returns false then, true when it seeded.
 */
export async function seedCustomers(
  service: CustomerService,
  shop: DemoShop,
  password: string,
  nodeEnv: string | undefined = process.env.NODE_ENV,
): Promise<boolean> {
  assertDemoPasswordAllowed(nodeEnv, password);
  if (!(await service.isEmpty())) return false;
  await service.importCustomers(
    shop.customers.map((customer) => ({
      id: customer.id,
      email: customer.email,
      name: customer.name,
      password,
      admin: customer.admin,
      createdAt: customer.createdAt,
      addresses: customer.addresses,
    })),
  );
  return true;
}
