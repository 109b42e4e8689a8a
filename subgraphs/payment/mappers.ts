/** How payment's GraphQL types are backed, for the generated resolver types. */
export type { PaymentRecord as PaymentModel } from './store/port';
export type { Money as MoneyModel } from '../../platform/money';

/** An order is only its id here; its payment is looked up by it. */
export interface OrderModel {
  id: string;
}
