import type { RequestContext } from '../../platform/context';
import type { DeadLetterService } from './dead-letters';
import type { OrderLoaders, OrderService } from './order-service';

/** What order resolvers receive for one request. */
export interface OrderContext extends RequestContext {
  orders: OrderService;
  loaders: OrderLoaders;
  deadLetters: DeadLetterService;
}
