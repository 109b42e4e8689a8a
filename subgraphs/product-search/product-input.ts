/** What makes a product's fields valid, shared by the admin mutations and catalog imports. */
import { badUserInput } from '../../platform/errors';
import { parseMinorUnits } from '../../platform/money';
import type { ProductChanges } from './store/port';

export const MAX_SKU_LENGTH = 64;
export const MAX_NAME_LENGTH = 200;
export const MAX_DESCRIPTION_LENGTH = 5000;
/** Largest price a product may have: the top of a 32-bit integer column, in minor units. */
export const MAX_PRICE = 2_147_483_647;

const SKU = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Product fields as an admin sends them (GraphQL `CreateProductInput`). */
export interface CreateProductInput {
  sku: string;
  name: string;
  description: string;
  price: number;
  categoryId: string;
  brandId: string;
}

/** Changes as an admin sends them (GraphQL `UpdateProductInput`); null or absent keeps a field. */
export type UpdateProductInput = { [K in keyof CreateProductInput]?: CreateProductInput[K] | null };

export type ProductFields = Omit<CreateProductInput, 'price'> & { priceAmount: number };

function sku(value: string): string {
  const text = value.trim();
  if (!text || text.length > MAX_SKU_LENGTH || !SKU.test(text)) {
    throw badUserInput(`sku must be 1 to ${MAX_SKU_LENGTH} letters, digits, dots, dashes or underscores.`, { field: 'sku' });
  }
  return text;
}

function name(value: string): string {
  const text = value.trim().replace(/\s+/g, ' ');
  if (!text || text.length > MAX_NAME_LENGTH) {
    throw badUserInput(`name must be 1 to ${MAX_NAME_LENGTH} characters.`, { field: 'name' });
  }
  return text;
}

function description(value: string): string {
  const text = value.trim();
  if (text.length > MAX_DESCRIPTION_LENGTH) {
    throw badUserInput(`description must be at most ${MAX_DESCRIPTION_LENGTH} characters.`, { field: 'description' });
  }
  return text;
}

function price(value: number): number {
  const amount = parseMinorUnits(value, 'price');
  if (amount > MAX_PRICE) throw badUserInput(`price must be at most ${MAX_PRICE} minor units.`, { field: 'price' });
  return amount;
}

function reference(value: string, field: 'categoryId' | 'brandId'): string {
  const id = value.trim();
  if (!id) throw badUserInput(`${field} must not be empty.`, { field });
  return id;
}

/** A new product's fields, trimmed and checked, or BAD_USER_INPUT naming the field. */
export function parseProductFields(input: CreateProductInput): ProductFields {
  return {
    sku: sku(input.sku),
    name: name(input.name),
    description: description(input.description),
    priceAmount: price(input.price),
    categoryId: reference(input.categoryId, 'categoryId'),
    brandId: reference(input.brandId, 'brandId'),
  };
}

/** The fields an update changes, each checked like a new product's; the rest are left out. */
export function parseProductChanges(input: UpdateProductInput): Omit<ProductChanges, 'currency'> {
  const changes: Omit<ProductChanges, 'currency'> = {};
  if (input.sku != null) changes.sku = sku(input.sku);
  if (input.name != null) changes.name = name(input.name);
  if (input.description != null) changes.description = description(input.description);
  if (input.price != null) changes.priceAmount = price(input.price);
  if (input.categoryId != null) changes.categoryId = reference(input.categoryId, 'categoryId');
  if (input.brandId != null) changes.brandId = reference(input.brandId, 'brandId');
  return changes;
}
