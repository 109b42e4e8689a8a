import { badUserInput } from './errors';

/** Largest page any list field returns. */
export const MAX_PAGE_SIZE = 100;

/** Validates a `first` argument: 0 to 100, or BAD_USER_INPUT. */
export function pageSize(first: number | null | undefined, fallback: number): number {
  const size = first ?? fallback;
  if (!Number.isInteger(size) || size < 0 || size > MAX_PAGE_SIZE) {
    throw badUserInput(`first must be between 0 and ${MAX_PAGE_SIZE}.`, { field: 'first' });
  }
  return size;
}
