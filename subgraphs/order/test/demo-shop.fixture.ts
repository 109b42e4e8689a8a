import type { DemoAddress, DemoShop } from '../../../embedded/demo-shop-types';

/** A demo shop with `orderCount` past orders of 1–4 lines spread over 100 customers; built fresh per call. */
export function demoShopFixture(orderCount: number): DemoShop {
  const address = (n: number): DemoAddress => ({
    line1: `${n} Main Street`,
    line2: n % 2 ? null : `Unit ${n}`,
    city: 'Springfield',
    region: n % 3 ? 'IL' : null,
    postalCode: String(62700 + (n % 100)),
    country: 'US',
  });
  return {
    currency: 'EUR',
    categories: [],
    brands: [],
    products: [],
    warehouses: [],
    stock: [],
    customers: [],
    orders: Array.from({ length: orderCount }, (_, i) => ({
      id: `demo-order-${i}`,
      customerId: `demo-customer-${i % 100}`,
      placedAt: new Date(Date.UTC(2024, 0, 1) + i * 3_600_000),
      lines: Array.from({ length: (i % 4) + 1 }, (_, l) => ({
        productId: `demo-product-${(i * 7 + l) % 2000}`,
        quantity: ((i + l) % 5) + 1,
        unitPriceAmount: 199 + ((i * 31 + l * 17) % 20_000),
      })),
      shippingAddress: address(i),
      card: { brand: 'visa', last4: '4242' },
    })),
  };
}
