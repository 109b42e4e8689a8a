import { ShopError } from '../../../platform/errors';
import { testDeps, type TestDeps } from '../../../platform/testing';
import { demoShopFixture } from './demo-shop.fixture';
import { OrderService, type PastOrder } from '../order-service';
import { seedOrders } from '../seed';
import type { OrderStore } from '../store/port';
import { openOrderStore } from '../subgraph';

async function codeOf(promise: Promise<unknown>): Promise<{ code?: string; field?: unknown }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ShopError) return { code: error.code, field: error.extensions.field };
    throw error;
  }
  return {};
}

function pastOrder(id: string, overrides: Partial<PastOrder> = {}): PastOrder {
  return {
    id,
    customerId: 'cust-1',
    status: 'PENDING',
    currency: 'USD',
    placedAt: new Date('2024-06-01T12:00:00Z'),
    shippingAddress: null,
    lines: [{ productId: 'p1', quantity: 2, unitPriceAmount: 450 }],
    ...overrides,
  };
}

describe('OrderService on PGlite', () => {
  let deps: TestDeps;
  let store: OrderStore;
  let service: OrderService;

  beforeAll(async () => {
    deps = await testDeps('pglite');
    store = await openOrderStore(deps);
    // Seeding and importing never price from the catalog: a catalog that knows nothing proves it.
    service = new OrderService(store, { prices: { pricesOf: async () => new Map() }, currency: 'USD' });
  });
  afterAll(async () => {
    await store?.close();
    await deps?.release();
  });

  describe('seeding the demo shop', () => {
    it('writes every demo order once, delivered, with totals priced from the lines', async () => {
      const shop = demoShopFixture(1200);
      const before = store.statementCount();
      expect(await seedOrders(service, shop)).toBe(true);
      // Batched: a handful of statements for 1,200 orders, not one per order or line.
      expect(store.statementCount() - before).toBeLessThanOrEqual(10);

      const first = shop.orders[0]!;
      const [stored] = await store.ordersByIds([first.id]);
      expect(stored).toMatchObject({
        customerId: first.customerId,
        status: 'DELIVERED',
        currency: 'EUR',
        placedAt: first.placedAt,
        shippingAddress: first.shippingAddress,
        totalAmount: first.lines.reduce((sum, l) => sum + l.quantity * l.unitPriceAmount, 0),
      });
      const lines = await store.linesOfOrders(shop.orders.slice(-3).map((o) => o.id));
      expect(lines).toHaveLength(shop.orders.slice(-3).reduce((n, o) => n + o.lines.length, 0));
    });

    it('does nothing when orders exist', async () => {
      const before = store.statementCount();
      expect(await seedOrders(service, demoShopFixture(3))).toBe(false);
      expect(store.statementCount() - before).toBe(1);
    });
  });

  describe('importing past orders', () => {
    it('ignores any total and prices the lines', async () => {
      const withTotal = { ...pastOrder('imp-1'), totalAmount: 1 } as PastOrder;
      await service.importPastOrders([withTotal]);
      expect((await store.ordersByIds(['imp-1']))[0]!.totalAmount).toBe(900);
    });

    it.each([
      ['no lines', { lines: [] }, 'orders[1].lines'],
      ['a quantity of 100', { lines: [{ productId: 'p', quantity: 100, unitPriceAmount: 1 }] }, 'orders[1].lines[0].quantity'],
      ['a quantity of 0', { lines: [{ productId: 'p', quantity: 0, unitPriceAmount: 1 }] }, 'orders[1].lines[0].quantity'],
      ['a negative price', { lines: [{ productId: 'p', quantity: 1, unitPriceAmount: -1 }] }, 'orders[1].lines[0].unitPriceAmount'],
      ['an unknown status', { status: 'LOST' as never }, 'orders[1].status'],
      ['a lower-case currency', { currency: 'usd' }, 'orders[1].currency'],
      ['an invalid time', { placedAt: new Date('nope') }, 'orders[1].placedAt'],
      ['no customer', { customerId: '' }, 'orders[1].customerId'],
      ['an address without city', { shippingAddress: { line1: 'a', line2: null, city: '', region: null, postalCode: '1', country: 'NL' } }, 'orders[1].shippingAddress.city'],
      ['an address with a bad country', { shippingAddress: { line1: 'a', line2: null, city: 'c', region: null, postalCode: '1', country: 'Holland' } }, 'orders[1].shippingAddress.country'],
    ])('refuses a batch with %s and writes none of it', async (_what, overrides, field) => {
      const batch = [pastOrder('batch-ok'), pastOrder('batch-bad', overrides as Partial<PastOrder>)];
      expect(await codeOf(service.importPastOrders(batch))).toEqual({ code: 'BAD_USER_INPUT', field });
      expect(await store.ordersByIds(['batch-ok', 'batch-bad'])).toEqual([]);
    });

    it('keeps addresses trimmed with the country upper-cased, as checkout does', async () => {
      const shippingAddress = { line1: ' Dam 1 ', line2: ' ', city: 'Amsterdam', region: null, postalCode: '1012 JS', country: 'nl' };
      await service.importPastOrders([pastOrder('imp-address', { shippingAddress })]);
      expect((await store.ordersByIds(['imp-address']))[0]!.shippingAddress).toEqual({
        line1: 'Dam 1',
        line2: null,
        city: 'Amsterdam',
        region: null,
        postalCode: '1012 JS',
        country: 'NL',
      });
    });

    it('refuses the same id twice in one batch', async () => {
      expect(await codeOf(service.importPastOrders([pastOrder('twice'), pastOrder('twice')]))).toEqual({
        code: 'BAD_USER_INPUT',
        field: 'orders[1].id',
      });
    });
  });
});
