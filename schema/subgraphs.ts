/**
 * The subgraphs that make up the shop's graph. Adding a domain is a folder under
 * `subgraphs/` and one line here; composition, codegen and the embedded shop read this list.
 */
export const SUBGRAPHS = [
  { name: 'customer', port: 4001 },
  { name: 'product-search', port: 4002 },
  { name: 'inventory', port: 4003 },
  { name: 'order', port: 4004 },
  { name: 'payment', port: 4005 },
  { name: 'recommendation', port: 4006 },
] as const;

export type SubgraphName = (typeof SUBGRAPHS)[number]['name'];

/** Environment-variable prefix of a subgraph: `product-search` → `PRODUCT_SEARCH`. */
export function envPrefix(name: SubgraphName): string {
  return name.toUpperCase().replace(/-/g, '_');
}
