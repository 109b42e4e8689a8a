import DataLoader from 'dataloader';

/** Rows matched to the keys a DataLoader asked for, in key order; missing keys get `null`. */
export function alignByKey<K, T>(keys: readonly K[], rows: readonly T[], keyOf: (row: T) => K): (T | null)[] {
  const byKey = new Map<K, T>();
  for (const row of rows) byKey.set(keyOf(row), row);
  return keys.map((key) => byKey.get(key) ?? null);
}

/** Rows grouped under the keys a DataLoader asked for, in key order; keys without rows get []. */
export function groupByKey<K, T>(keys: readonly K[], rows: readonly T[], keyOf: (row: T) => K): T[][] {
  const grouped = new Map<K, T[]>();
  for (const row of rows) {
    const key = keyOf(row);
    const list = grouped.get(key);
    if (list) list.push(row);
    else grouped.set(key, [row]);
  }
  return keys.map((key) => grouped.get(key) ?? []);
}

/**
 * A per-request DataLoader that fetches many records by id in one store query.
 * Build it in the context factory, never at module level: its cache lives one request.
 */
export function recordLoader<T>(fetch: (ids: readonly string[]) => Promise<T[]>, idOf: (row: T) => string) {
  return new DataLoader<string, T | null>(async (ids) => alignByKey(ids, await fetch(ids), idOf), { maxBatchSize: 1000 });
}

/**
 * One DataLoader per value of a field argument that is part of what is asked (a page size,
 * say): keys asked for with the same value share one batch; each loader is built on first use.
 */
export function loaderPer<A, K, V>(build: (argument: A) => DataLoader<K, V>): (argument: A) => DataLoader<K, V> {
  const loaders = new Map<A, DataLoader<K, V>>();
  return (argument) => {
    let loader = loaders.get(argument);
    if (!loader) loaders.set(argument, (loader = build(argument)));
    return loader;
  };
}
