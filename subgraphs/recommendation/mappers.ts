/** How recommendation's GraphQL types are backed, for the generated resolver types. */

/** A product is only its id here; the catalog subgraph resolves the rest. */
export interface ProductModel {
  id: string;
}

/** A customer is only its id here; the customer subgraph resolves the rest. */
export interface CustomerModel {
  id: string;
}
