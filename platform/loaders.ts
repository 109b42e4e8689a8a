import DataLoader from 'dataloader';

/** Rows matched to the keys a DataLoader asked for, in key order; missing keys get `null`. */
export function alignByKey<K, T>(keys: readonly K[], rows: readonly T[], keyOf: (row: T) => K): (T | null)[] {
  const byKey = new Map<K, T>();
  for (const row of rows) byKey.set(keyOf(row), row);
  return keys.map((key) => byKey.get(key) ?? null);
}

/**
 * A per-request DataLoader that fetches many records by id in one store query.
 * Build it in the context factory, never at module level: its cache lives one request.
 */
export function recordLoader<T>(fetch: (ids: readonly string[]) => Promise<T[]>, idOf: (row: T) => string) {
  return new DataLoader<string, T | null>(async (ids) => alignByKey(ids, await fetch(ids), idOf), { maxBatchSize: 1000 });
}
