import { FULL_SIZE, generateDemoShop, stableId } from '../demo-shop';

describe('the demo shop', () => {
  const shop = generateDemoShop();

  it('is the same on every install', () => {
    expect(generateDemoShop()).toEqual(shop);
  });

  it('is large enough to be realistic', () => {
    expect(shop.products.length).toBeGreaterThanOrEqual(2000);
    expect(shop.categories.length).toBeGreaterThanOrEqual(20);
    expect(shop.brands.length).toBeGreaterThanOrEqual(30);
    expect(shop.warehouses).toHaveLength(3);
    expect(shop.customers.filter((c) => !c.admin)).toHaveLength(100);
    expect(shop.orders.length).toBeGreaterThanOrEqual(1000);
    expect(shop.orders.length).toBe(FULL_SIZE.orders);
  });

  it('has stock for every product in every warehouse', () => {
    expect(shop.stock).toHaveLength(shop.products.length * shop.warehouses.length);
    expect(shop.stock.every((s) => Number.isInteger(s.onHand) && s.onHand >= 0)).toBe(true);
  });

  it('holds enough of every product for all past orders, which checkout ships from stock', () => {
    const onHand = new Map<string, number>();
    for (const row of shop.stock) onHand.set(row.productId, (onHand.get(row.productId) ?? 0) + row.onHand);
    const sold = new Map<string, number>();
    for (const order of shop.orders) for (const l of order.lines) sold.set(l.productId, (sold.get(l.productId) ?? 0) + l.quantity);
    expect(sold.size).toBeGreaterThan(0);
    for (const [productId, units] of sold) expect(onHand.get(productId)).toBeGreaterThanOrEqual(units);
  });

  it('has the documented accounts', () => {
    const emails = shop.customers.map((c) => c.email);
    expect(emails).toContain('admin@demo.shop');
    expect(emails).toContain('customer1@demo.shop');
    expect(emails).toContain('customer100@demo.shop');
    expect(shop.customers.filter((c) => c.admin).map((c) => c.email)).toEqual(['admin@demo.shop']);
  });

  it('uses unique ids and skus, and orders only reference known products and customers', () => {
    const productIds = new Set(shop.products.map((p) => p.id));
    expect(productIds.size).toBe(shop.products.length);
    expect(new Set(shop.products.map((p) => p.sku)).size).toBe(shop.products.length);
    const customerIds = new Set(shop.customers.map((c) => c.id));
    for (const order of shop.orders) {
      expect(customerIds.has(order.customerId)).toBe(true);
      expect(order.lines.length).toBeGreaterThanOrEqual(1);
      expect(new Set(order.lines.map((l) => l.productId)).size).toBe(order.lines.length);
      for (const line of order.lines) {
        expect(productIds.has(line.productId)).toBe(true);
        expect(Number.isInteger(line.unitPriceAmount)).toBe(true);
      }
    }
  });

  it('prices in whole minor units', () => {
    expect(shop.products.every((p) => Number.isSafeInteger(p.priceAmount) && p.priceAmount > 0)).toBe(true);
  });

  it('derives stable UUID-shaped ids', () => {
    expect(stableId('product', 1)).toBe(stableId('product', 1));
    expect(stableId('product', 1)).not.toBe(stableId('product', 2));
    expect(stableId('order', 7)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
