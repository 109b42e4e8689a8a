export type { DeadLetterView as DeadLetterModel } from './dead-letters';

/** How the order subgraph's GraphQL types are backed, for the generated resolver types. */
export type { OrderRecord as OrderModel } from './store/port';
export type { OrderLineView as OrderLineModel, CartView as CartModel } from './order-service';
export type { PricedCartLine as CartLineModel } from './pricing';
export type { Money as MoneyModel } from '../../platform/money';

/** A customer is only its id here; the order history and cart are read by it. */
export interface CustomerModel {
  id: string;
}

/** A product is only its id here; the catalog owns everything else. */
export interface ProductModel {
  id: string;
}
