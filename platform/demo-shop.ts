/**
 * The demo shop: a deterministic, realistic catalog, stock, customers and order
 * history, generated from a fixed seed so every install shows the same shop.
 * Pure: no I/O. `seed.ts` writes it through each subgraph's domain service.
 */
import { createHash } from 'node:crypto';
import type {
  DemoAddress,
  DemoBrand,
  DemoCategory,
  DemoCustomer,
  DemoOrder,
  DemoProduct,
  DemoShop,
  DemoStock,
  DemoWarehouse,
} from './demo-shop-types';

export interface DemoShopSize {
  products: number;
  customers: number;
  orders: number;
}

/** What `npm start` seeds: 2,000+ products, 100 customers, 1,200 past orders. */
export const FULL_SIZE: DemoShopSize = { products: 2400, customers: 100, orders: 1200 };

/** A small demo shop with every kind of record, quick to seed (`DEMO_SIZE=small`, tests). */
export const SMALL_SIZE: DemoShopSize = { products: 120, customers: 10, orders: 80 };

/** Deterministic identifier in UUID form, derived from a name. */
export function stableId(kind: string, key: string | number): string {
  const hex = createHash('sha256').update(`commerce-supergraph:${kind}:${key}`).digest('hex');
  // Shaped as a version-5-style UUID so clients that expect UUIDs accept it.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** mulberry32: a small, fast, seedable PRNG; the same seed gives the same shop. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;
const between = (rng: Rng, min: number, max: number) => min + Math.floor(rng() * (max - min + 1));

/** Category → what its products are called, their price range in dollars, and what sells with them. */
const CATEGORIES: { name: string; nouns: string[]; price: [number, number]; goesWith: string[] }[] = [
  { name: 'Tables', nouns: ['Dining Table', 'Coffee Table', 'Side Table', 'Console Table', 'Desk'], price: [89, 1499], goesWith: ['Chairs', 'Tableware', 'Lighting'] },
  { name: 'Chairs', nouns: ['Dining Chair', 'Armchair', 'Bar Stool', 'Office Chair', 'Rocking Chair'], price: [39, 899], goesWith: ['Tables', 'Cushions & Throws'] },
  { name: 'Sofas', nouns: ['Sofa', 'Loveseat', 'Sectional Sofa', 'Daybed', 'Sofa Bed'], price: [399, 3499], goesWith: ['Cushions & Throws', 'Rugs', 'Lighting'] },
  { name: 'Beds', nouns: ['Bed Frame', 'Headboard', 'Bunk Bed', 'Platform Bed'], price: [199, 2499], goesWith: ['Bedding', 'Mattresses', 'Lighting'] },
  { name: 'Mattresses', nouns: ['Memory Foam Mattress', 'Spring Mattress', 'Mattress Topper'], price: [149, 1999], goesWith: ['Beds', 'Bedding'] },
  { name: 'Bedding', nouns: ['Duvet Cover', 'Sheet Set', 'Pillow', 'Duvet', 'Bedspread'], price: [19, 299], goesWith: ['Beds', 'Mattresses'] },
  { name: 'Lighting', nouns: ['Floor Lamp', 'Table Lamp', 'Pendant Light', 'Wall Sconce', 'Desk Lamp'], price: [24, 599], goesWith: ['Tables', 'Sofas', 'Light Bulbs'] },
  { name: 'Light Bulbs', nouns: ['LED Bulb', 'Filament Bulb', 'Smart Bulb'], price: [4, 49], goesWith: ['Lighting'] },
  { name: 'Rugs', nouns: ['Area Rug', 'Runner Rug', 'Round Rug', 'Doormat'], price: [29, 1299], goesWith: ['Sofas', 'Rug Pads'] },
  { name: 'Rug Pads', nouns: ['Rug Pad', 'Non-Slip Rug Underlay'], price: [12, 89], goesWith: ['Rugs'] },
  { name: 'Cushions & Throws', nouns: ['Cushion', 'Throw Blanket', 'Floor Cushion', 'Pouf'], price: [15, 189], goesWith: ['Sofas', 'Chairs'] },
  { name: 'Storage', nouns: ['Bookcase', 'Shelving Unit', 'Storage Box', 'Wardrobe', 'Chest of Drawers'], price: [19, 1299], goesWith: ['Home Office', 'Baskets'] },
  { name: 'Baskets', nouns: ['Storage Basket', 'Laundry Basket', 'Wire Basket'], price: [9, 79], goesWith: ['Storage', 'Bathroom'] },
  { name: 'Home Office', nouns: ['Writing Desk', 'Monitor Stand', 'Filing Cabinet', 'Desk Organiser'], price: [19, 999], goesWith: ['Chairs', 'Lighting', 'Storage'] },
  { name: 'Kitchen', nouns: ['Chef Knife', 'Cutting Board', 'Frying Pan', 'Saucepan', 'Dutch Oven'], price: [12, 399], goesWith: ['Tableware', 'Kitchen Textiles'] },
  { name: 'Tableware', nouns: ['Dinner Plate Set', 'Bowl Set', 'Mug', 'Wine Glass Set', 'Serving Platter'], price: [9, 249], goesWith: ['Kitchen', 'Tables', 'Kitchen Textiles'] },
  { name: 'Kitchen Textiles', nouns: ['Tea Towel', 'Tablecloth', 'Apron', 'Oven Glove'], price: [7, 69], goesWith: ['Kitchen', 'Tableware'] },
  { name: 'Bathroom', nouns: ['Bath Towel', 'Bath Mat', 'Shower Curtain', 'Soap Dispenser'], price: [8, 149], goesWith: ['Baskets', 'Mirrors'] },
  { name: 'Mirrors', nouns: ['Wall Mirror', 'Floor Mirror', 'Vanity Mirror'], price: [29, 699], goesWith: ['Bathroom', 'Wall Decor'] },
  { name: 'Wall Decor', nouns: ['Framed Print', 'Wall Clock', 'Canvas Art', 'Wall Shelf'], price: [15, 399], goesWith: ['Mirrors', 'Plants & Pots'] },
  { name: 'Plants & Pots', nouns: ['Plant Pot', 'Planter', 'Artificial Plant', 'Watering Can'], price: [6, 199], goesWith: ['Wall Decor', 'Garden'] },
  { name: 'Garden', nouns: ['Garden Chair', 'Garden Table', 'Parasol', 'Lounger', 'Hammock'], price: [29, 1499], goesWith: ['Outdoor Lighting', 'Plants & Pots'] },
  { name: 'Outdoor Lighting', nouns: ['Solar Lantern', 'String Lights', 'Outdoor Wall Light'], price: [14, 249], goesWith: ['Garden'] },
  { name: 'Kids', nouns: ['Kids Table', 'Toy Chest', 'Kids Chair', 'Play Tent', 'Night Light'], price: [19, 499], goesWith: ['Storage', 'Bedding'] },
];

const BRANDS = [
  'Nordhaven', 'Oakmere', 'Lumen & Co', 'Birchwood', 'Casa Verde', 'Fjordlight', 'Hearthstone', 'Maple Row',
  'Urban Nest', 'Solstice', 'Driftwood', 'Kinfolk Home', 'Linen Lane', 'Terracotta', 'Atelier Nine', 'Greyhound Living',
  'Copper Kettle', 'Wildflower', 'Stoneware Studio', 'Moss & Fern', 'Harbor House', 'Ironbark', 'Velvet Moon', 'Saltmarsh',
  'Juniper', 'Alder & Ash', 'Brightside', 'Hollow Pine', 'Meridian', 'Northlight', 'Pebble Bay', 'Willowmere',
];

const MATERIALS = ['Oak', 'Walnut', 'Pine', 'Teak', 'Bamboo', 'Rattan', 'Linen', 'Cotton', 'Wool', 'Velvet', 'Leather', 'Marble', 'Ceramic', 'Glass', 'Steel', 'Brass', 'Copper', 'Stoneware'];
const STYLES = ['Nordic', 'Classic', 'Modern', 'Rustic', 'Minimalist', 'Vintage', 'Industrial', 'Coastal', 'Compact', 'Deluxe'];
const COLOURS = ['White', 'Black', 'Natural', 'Grey', 'Sage Green', 'Navy', 'Terracotta', 'Sand', 'Charcoal', 'Mustard'];
const FIRST = ['Ada', 'Ben', 'Chloe', 'David', 'Elena', 'Farid', 'Grace', 'Hugo', 'Ines', 'Jonas', 'Kira', 'Liam', 'Maya', 'Noah', 'Olga', 'Pedro', 'Quinn', 'Rosa', 'Sami', 'Tara', 'Umar', 'Vera', 'Wen', 'Yara', 'Zoe'];
const LAST = ['Andersen', 'Bakker', 'Costa', 'Dubois', 'Eriksen', 'Fischer', 'Garcia', 'Haddad', 'Ivanova', 'Jansen', 'Kowalski', 'Larsen', 'Moreau', 'Nakamura', 'Okafor', 'Petrov', 'Rossi', 'Schmidt', 'Tanaka', 'Weber'];
const CITIES: Omit<DemoAddress, 'line1' | 'line2'>[] = [
  { city: 'Amsterdam', region: 'North Holland', postalCode: '1012 AB', country: 'NL' },
  { city: 'Berlin', region: 'Berlin', postalCode: '10115', country: 'DE' },
  { city: 'Paris', region: 'Île-de-France', postalCode: '75001', country: 'FR' },
  { city: 'Brooklyn', region: 'NY', postalCode: '11201', country: 'US' },
  { city: 'Austin', region: 'TX', postalCode: '73301', country: 'US' },
  { city: 'London', region: null, postalCode: 'EC1A 1BB', country: 'GB' },
  { city: 'Copenhagen', region: null, postalCode: '1050', country: 'DK' },
  { city: 'Madrid', region: 'Madrid', postalCode: '28001', country: 'ES' },
];
const STREETS = ['Canal Street', 'Linden Avenue', 'Harbour Road', 'Maple Lane', 'Station Square', 'Mill Road', 'Park Row', 'Elm Street'];
const CARDS = [
  { brand: 'visa', weight: 6 },
  { brand: 'mastercard', weight: 3 },
  { brand: 'amex', weight: 1 },
];

const slugify = (text: string) => text.toLowerCase().replace(/&/g, 'and').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');

/** Prices end in .99 or .00, as shops price them; whole minor units. */
function price(rng: Rng, [min, max]: [number, number]): number {
  const dollars = Math.round(min * Math.pow(max / min, rng()));
  return dollars * 100 - (rng() < 0.7 ? 1 : 0);
}

function address(rng: Rng): DemoAddress {
  const place = pick(rng, CITIES);
  return { line1: `${between(rng, 1, 240)} ${pick(rng, STREETS)}`, line2: rng() < 0.2 ? `Apt ${between(rng, 1, 40)}` : null, ...place };
}

const EPOCH = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

/** Generates the demo shop. The same size always yields the same records. */
export function generateDemoShop(size: DemoShopSize = FULL_SIZE, currency = 'USD'): DemoShop {
  const rng = random(20260101);

  const categories: DemoCategory[] = CATEGORIES.map((c) => ({
    id: stableId('category', c.name),
    slug: slugify(c.name),
    name: c.name,
    description: `${c.name} for every room: ${c.nouns.slice(0, 3).join(', ').toLowerCase()} and more.`,
  }));
  const brands: DemoBrand[] = BRANDS.map((name) => ({ id: stableId('brand', name), slug: slugify(name), name }));

  const products: DemoProduct[] = [];
  const productsByCategory = new Map<string, DemoProduct[]>();
  const usedNames = new Set<string>();
  for (let i = 0; i < size.products; i++) {
    const categoryIndex = i % CATEGORIES.length;
    const category = CATEGORIES[categoryIndex]!;
    const brand = pick(rng, brands);
    const noun = pick(rng, category.nouns);
    const material = pick(rng, MATERIALS);
    let name = `${pick(rng, STYLES)} ${material} ${noun}`;
    if (usedNames.has(name)) name = `${name} in ${pick(rng, COLOURS)}`;
    if (usedNames.has(name)) name = `${name} No. ${i}`;
    usedNames.add(name);
    const product: DemoProduct = {
      id: stableId('product', i),
      sku: `${category.name.slice(0, 3).toUpperCase().replace(/[^A-Z]/g, 'X')}-${String(i + 1).padStart(5, '0')}`,
      name,
      description:
        `${/^[aeiou]/i.test(noun) ? 'An' : 'A'} ${noun.toLowerCase()} by ${brand.name} in ${material.toLowerCase()}, ` +
        `finished in ${pick(rng, COLOURS).toLowerCase()}. ${pick(rng, [
          'Made to last and easy to care for.',
          'Designed in our studio and built by hand.',
          'Sustainably sourced materials throughout.',
          'Arrives flat-packed with everything you need.',
          'A best seller in our ' + category.name.toLowerCase() + ' range.',
        ])}`,
      priceAmount: price(rng, category.price),
      categoryId: categories[categoryIndex]!.id,
      brandId: brand.id,
      createdAt: new Date(EPOCH - between(rng, 30, 900) * DAY),
    };
    products.push(product);
    const list = productsByCategory.get(category.name) ?? [];
    list.push(product);
    productsByCategory.set(category.name, list);
  }

  const warehouses: DemoWarehouse[] = [
    { id: stableId('warehouse', 'AMS-1'), code: 'AMS-1', name: 'Amsterdam Fulfilment Centre', city: 'Amsterdam', country: 'NL' },
    { id: stableId('warehouse', 'BER-1'), code: 'BER-1', name: 'Berlin Distribution Hub', city: 'Berlin', country: 'DE' },
    { id: stableId('warehouse', 'EWR-1'), code: 'EWR-1', name: 'Newark Warehouse', city: 'Newark', country: 'US' },
  ];
  const stock: DemoStock[] = [];
  for (const product of products) {
    for (const warehouse of warehouses) {
      stock.push({ productId: product.id, warehouseId: warehouse.id, onHand: rng() < 0.08 ? 0 : between(rng, 1, 120) });
    }
  }

  const customers: DemoCustomer[] = [
    { id: stableId('customer', 'admin'), email: 'admin@demo.shop', name: 'Shop Admin', admin: true, createdAt: new Date(EPOCH - 800 * DAY), addresses: [] },
  ];
  for (let n = 1; n <= size.customers; n++) {
    customers.push({
      id: stableId('customer', n),
      email: `customer${n}@demo.shop`,
      name: `${pick(rng, FIRST)} ${pick(rng, LAST)}`,
      admin: false,
      createdAt: new Date(EPOCH - between(rng, 400, 700) * DAY),
      addresses: [address(rng)],
    });
  }

  // Orders follow taste: a popular first item (products early in each category sell more),
  // then items from the same or a complementary category, so "bought together" has signal.
  const popular = (list: DemoProduct[]) => list[Math.floor(Math.pow(rng(), 2.2) * list.length)]!;
  const buyers = customers.filter((c) => !c.admin);
  const orders: DemoOrder[] = [];
  const cardWeights = CARDS.flatMap((c) => Array<string>(c.weight).fill(c.brand));
  for (let i = 0; i < size.orders; i++) {
    const customer = buyers.length ? buyers[Math.floor(Math.pow(rng(), 1.5) * buyers.length)]! : customers[0]!;
    const firstCategory = pick(rng, CATEGORIES);
    const first = popular(productsByCategory.get(firstCategory.name) ?? products);
    const chosen = new Map<string, DemoProduct>([[first.id, first]]);
    const lineCount = between(rng, 1, 4);
    for (let attempt = 0; chosen.size < lineCount && attempt < 10; attempt++) {
      const fromCategory = rng() < 0.75 ? pick(rng, firstCategory.goesWith) : firstCategory.name;
      const candidates = productsByCategory.get(fromCategory);
      if (candidates?.length) {
        const product = popular(candidates);
        chosen.set(product.id, product);
      }
    }
    const placedAt = new Date(EPOCH + between(rng, 0, 320) * DAY + between(rng, 0, DAY - 1));
    orders.push({
      id: stableId('order', i),
      customerId: customer.id,
      placedAt,
      lines: [...chosen.values()].map((p) => ({ productId: p.id, quantity: rng() < 0.8 ? 1 : between(rng, 2, 3), unitPriceAmount: p.priceAmount })),
      shippingAddress: customer.addresses[0] ?? address(rng),
      card: { brand: pick(rng, cardWeights), last4: String(between(rng, 0, 9999)).padStart(4, '0') },
    });
  }
  orders.sort((a, b) => a.placedAt.getTime() - b.placedAt.getTime());

  // Past orders are replayed through checkout and ship real stock, so each product's fullest
  // warehouse starts with what its past orders took; after the history the shop holds the
  // stock drawn above and no past order runs short.
  const sold = new Map<string, number>();
  for (const order of orders) for (const line of order.lines) sold.set(line.productId, (sold.get(line.productId) ?? 0) + line.quantity);
  const fullest = new Map<string, DemoStock>();
  for (const row of stock) {
    const best = fullest.get(row.productId);
    if (!best || row.onHand > best.onHand) fullest.set(row.productId, row);
  }
  for (const [productId, units] of sold) fullest.get(productId)!.onHand += units;

  return { currency, categories, brands, products, warehouses, stock, customers, orders };
}
