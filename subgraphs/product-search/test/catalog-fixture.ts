/**
 * A small furniture catalog built by code for the tests: names chosen so that
 * relevance, typos, stemming and description matches have known answers, prices
 * and dates with ties so the id tiebreak is exercised.
 */
import type { DemoShop } from '../../../platform/demo-shop-types';
import type { BrandRecord, CategoryRecord } from '../store/port';

export interface FixtureProduct {
  id: string;
  sku: string;
  name: string;
  description: string;
  priceAmount: number;
  categoryId: string;
  brandId: string;
  createdAt: Date;
}

export interface CatalogFixture {
  categories: CategoryRecord[];
  brands: BrandRecord[];
  products: FixtureProduct[];
}

export const CATEGORIES: CategoryRecord[] = [
  { id: 'cat-chairs', slug: 'chairs', name: 'Chairs', description: 'Seats for one.' },
  { id: 'cat-tables', slug: 'tables', name: 'Tables', description: 'Surfaces to eat and work at.' },
  { id: 'cat-lamps', slug: 'lamps', name: 'Lamps', description: 'Light for every room.' },
  { id: 'cat-sofas', slug: 'sofas', name: 'Sofas', description: 'Seats for many.' },
  { id: 'cat-rugs', slug: 'rugs', name: 'Rugs', description: 'Nothing here yet.' },
];

export const BRANDS: BrandRecord[] = [
  { id: 'brand-nordwood', slug: 'nordwood', name: 'Nordwood' },
  { id: 'brand-lumen', slug: 'lumen', name: 'Lumen' },
  { id: 'brand-oakline', slug: 'oakline', name: 'Oakline' },
  { id: 'brand-vacant', slug: 'vacant', name: 'Vacant' },
];

const KINDS = [
  { word: 'Chair', categoryId: 'cat-chairs', text: 'A seat with a straight back.' },
  { word: 'Table', categoryId: 'cat-tables', text: 'A flat top on four legs.' },
  { word: 'Lamp', categoryId: 'cat-lamps', text: 'Soft light for reading.' },
  { word: 'Sofa', categoryId: 'cat-sofas', text: 'Room for three on deep cushions.' },
];
const MATERIALS = ['Wooden', 'Oak', 'Steel'];
const STYLES = ['Classic', 'Modern', 'Rustic'];
/** Prices repeat so that price sorts have ties; they spread over every band but the top one's edge. */
const PRICES = [1500, 2500, 4999, 9900, 2500, 25000, 60000];
const BRAND_CYCLE = ['brand-nordwood', 'brand-lumen', 'brand-oakline'];

/** A UUID-shaped id that sorts by `n`. */
export function productId(n: number): string {
  return `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
}

const SPECIALS = [
  { name: 'Garden Chair', description: 'Weatherproof wooden slats.', categoryId: 'cat-chairs' },
  { name: 'Bedside Lamp', description: 'Warm light with a dimmer switch.', categoryId: 'cat-lamps' },
  { name: 'Velvet Sofa Bed', description: 'Unfolds into a bed for guests.', categoryId: 'cat-sofas' },
  { name: 'Nesting Tables', description: 'Three sizes that stack.', categoryId: 'cat-tables' },
];

/** `count` products (40 by default): style × material × kind, then the specials, then numbered shelves. */
export function catalogFixture(count = 40): CatalogFixture {
  const named: { name: string; description: string; categoryId: string }[] = [];
  for (const kind of KINDS) {
    for (const material of MATERIALS) {
      for (const style of STYLES) {
        named.push({ name: `${style} ${material} ${kind.word}`, description: kind.text, categoryId: kind.categoryId });
      }
    }
  }
  named.push(...SPECIALS);
  for (let n = 1; named.length < count; n += 1) {
    named.push({ name: `Modular Shelf ${n}`, description: 'One more shelf.', categoryId: 'cat-tables' });
  }
  const base = Date.UTC(2024, 0, 1);
  const products = named.slice(0, count).map((p, i) => ({
    id: productId(i + 1),
    sku: `SKU-${String(i + 1).padStart(4, '0')}`,
    name: p.name,
    description: p.description,
    priceAmount: PRICES[i % PRICES.length]!,
    categoryId: p.categoryId,
    brandId: BRAND_CYCLE[i % BRAND_CYCLE.length]!,
    // Two products a day, so NEWEST has ties broken by id.
    createdAt: new Date(base + Math.floor(i / 2) * 86_400_000),
  }));
  return { categories: CATEGORIES, brands: BRANDS, products };
}

/** The fixture as a demo shop holding only a catalog. */
export function fixtureShop(fixture: CatalogFixture, currency = 'USD'): DemoShop {
  return { currency, ...fixture, warehouses: [], stock: [], customers: [], orders: [] };
}

/** Byte-wise comparison, as the index orders names and ids. */
export function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
