import type { DemoCustomer, DemoShop } from '../../../platform/demo-shop-types';
import { testDeps, type TestDeps } from '../../../platform/testing';
import type { CustomerService } from '../customer-service';
import { DEFAULT_DEMO_PASSWORD, seedCustomers } from '../seed';
import type { CustomerStore } from '../store/port';
import { customerSubgraph, openCustomerStore } from '../subgraph';

function demoShop(count: number): DemoShop {
  const customers: DemoCustomer[] = Array.from({ length: count }, (_, i) => ({
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    email: i === 0 ? 'Admin@Demo.Shop' : `customer${i}@demo.shop`,
    name: i === 0 ? 'Shop Admin' : `Customer ${i}`,
    admin: i === 0,
    createdAt: new Date(Date.UTC(2023, 0, 1 + i)),
    addresses:
      i % 2 === 0
        ? []
        : [
            { line1: `${i} Canal St`, line2: null, city: 'Amsterdam', region: null, postalCode: '1011', country: 'nl' },
            { line1: `${i} Main St`, line2: 'Apt 2', city: 'Austin', region: 'TX', postalCode: '78701', country: 'US' },
          ],
  }));
  return { currency: 'USD', categories: [], brands: [], products: [], warehouses: [], stock: [], customers, orders: [] };
}

describe('seeding demo customers', () => {
  let deps: TestDeps;
  let store: CustomerStore;
  let service: CustomerService;
  let definition: ReturnType<typeof customerSubgraph>;
  const shop = demoShop(101);
  const password = 'seeded password 1';

  beforeAll(async () => {
    deps = await testDeps('pglite');
    store = await openCustomerStore(deps);
    definition = customerSubgraph(store, deps);
    service = definition.service;
  });
  afterAll(async () => {
    await store?.close();
    await deps?.release();
  });

  it('refuses the published default password in production before writing anything', async () => {
    await expect(seedCustomers(service, shop, DEFAULT_DEMO_PASSWORD, 'production')).rejects.toThrow(/DEMO_PASSWORD/);
    expect(await store.isEmpty()).toBe(true);
  });

  it('writes every customer with its id, creation time and addresses into an empty store', async () => {
    expect(await seedCustomers(service, shop, password, 'development')).toBe(true);
    const found = await store.findByIds(shop.customers.map((c) => c.id));
    expect(found).toHaveLength(101);
    const first = found.find((c) => c.id === shop.customers[1]!.id)!;
    expect(first).toMatchObject({ email: 'customer1@demo.shop', name: 'Customer 1', createdAt: shop.customers[1]!.createdAt });
    expect(first.addresses.map((a) => a.country)).toEqual(['NL', 'US']);
    expect(new Set(found.flatMap((c) => c.addresses.map((a) => a.id))).size).toBe(100);
  });

  it('signs seeded customers in with the password, admins with the admin scope', async () => {
    const admin = await service.login({ email: 'admin@demo.shop', password });
    expect(admin.customer.scopes).toEqual(['customer', 'admin']);
    const viewer = await deps.tokens.viewerFromAuthorization(`Bearer ${admin.accessToken}`);
    expect(viewer).toMatchObject({ customerId: shop.customers[0]!.id, scopes: ['customer', 'admin'] });
    const customer = await service.login({ email: 'customer7@demo.shop', password });
    expect(customer.customer.scopes).toEqual(['customer']);
    await expect(service.login({ email: 'customer7@demo.shop', password: DEFAULT_DEMO_PASSWORD })).rejects.toMatchObject({
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });

  it('hashes every password with its own salt', async () => {
    const hashes = await Promise.all(['customer1@demo.shop', 'customer2@demo.shop'].map((e) => store.findByEmail(e)));
    expect(hashes[0]!.passwordHash).not.toBe(hashes[1]!.passwordHash);
  });

  it('does nothing when customers exist, also through the subgraph definition', async () => {
    expect(await seedCustomers(service, demoShop(3), 'another password', 'development')).toBe(false);
    expect(await definition.seed!({ shop: demoShop(3), password: 'another password', nodeEnv: 'test' })).toBe(false);
    await expect(service.login({ email: 'customer1@demo.shop', password: 'another password' })).rejects.toThrow();
  });
});
