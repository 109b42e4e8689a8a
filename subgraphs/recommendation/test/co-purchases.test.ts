import { aggregatePurchases } from '../co-purchases';

describe('aggregating purchases', () => {
  it('weighs every pair of products in an order both ways and counts each product for the customer', () => {
    expect(aggregatePurchases([{ customerId: 'c1', productIds: ['a', 'b', 'c'] }])).toEqual({
      pairs: [
        { productId: 'a', otherProductId: 'b', weight: 1 },
        { productId: 'a', otherProductId: 'c', weight: 1 },
        { productId: 'b', otherProductId: 'a', weight: 1 },
        { productId: 'b', otherProductId: 'c', weight: 1 },
        { productId: 'c', otherProductId: 'a', weight: 1 },
        { productId: 'c', otherProductId: 'b', weight: 1 },
      ],
      customerProducts: [
        { customerId: 'c1', productId: 'a', quantity: 1 },
        { customerId: 'c1', productId: 'b', quantity: 1 },
        { customerId: 'c1', productId: 'c', quantity: 1 },
      ],
    });
  });

  it('adds up pairs and customer products over orders', () => {
    const { pairs, customerProducts } = aggregatePurchases([
      { customerId: 'c1', productIds: ['a', 'b'] },
      { customerId: 'c2', productIds: ['b', 'a'] },
      { customerId: 'c1', productIds: ['a', 'c'] },
    ]);
    expect(pairs).toEqual([
      { productId: 'a', otherProductId: 'b', weight: 2 },
      { productId: 'a', otherProductId: 'c', weight: 1 },
      { productId: 'b', otherProductId: 'a', weight: 2 },
      { productId: 'c', otherProductId: 'a', weight: 1 },
    ]);
    expect(customerProducts).toEqual([
      { customerId: 'c1', productId: 'a', quantity: 2 },
      { customerId: 'c1', productId: 'b', quantity: 1 },
      { customerId: 'c1', productId: 'c', quantity: 1 },
      { customerId: 'c2', productId: 'a', quantity: 1 },
      { customerId: 'c2', productId: 'b', quantity: 1 },
    ]);
  });

  it('counts a product on two lines of one order once, and never pairs it with itself', () => {
    const { pairs, customerProducts } = aggregatePurchases([{ customerId: 'c1', productIds: ['a', 'a', 'b'] }]);
    expect(pairs).toEqual([
      { productId: 'a', otherProductId: 'b', weight: 1 },
      { productId: 'b', otherProductId: 'a', weight: 1 },
    ]);
    expect(customerProducts.find((p) => p.productId === 'a')?.quantity).toBe(1);
  });

  it('records a single-product order for the customer without any pair', () => {
    expect(aggregatePurchases([{ customerId: 'c1', productIds: ['a'] }])).toEqual({
      pairs: [],
      customerProducts: [{ customerId: 'c1', productId: 'a', quantity: 1 }],
    });
    expect(aggregatePurchases([{ customerId: 'c1', productIds: [] }])).toEqual({ pairs: [], customerProducts: [] });
  });

  it('yields each key once, sorted, however the orders list their products', () => {
    const orders = Array.from({ length: 200 }, (_, i) => ({
      customerId: `c${i % 7}`,
      productIds: [`p${i % 5}`, `p${(i * 3) % 11}`, `p${(i * 7) % 13}`],
    }));
    const { pairs, customerProducts } = aggregatePurchases(orders);
    const pairKeys = pairs.map((p) => `${p.productId}\u0000${p.otherProductId}`);
    expect(new Set(pairKeys).size).toBe(pairKeys.length);
    expect(pairKeys).toEqual([...pairKeys].sort());
    const customerKeys = customerProducts.map((p) => `${p.customerId}\u0000${p.productId}`);
    expect(customerKeys).toEqual([...new Set(customerKeys)].sort());
    // Symmetric: a→b weighs what b→a weighs.
    const weight = new Map(pairs.map((p) => [`${p.productId}>${p.otherProductId}`, p.weight]));
    for (const p of pairs) expect(weight.get(`${p.otherProductId}>${p.productId}`)).toBe(p.weight);
  });
});
