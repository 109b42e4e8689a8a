import type { RequestContext } from '../../platform/context';
import type { PaymentLoaders, PaymentService } from './payment-service';

/** What payment resolvers receive for one request. */
export interface PaymentContext extends RequestContext {
  payments: PaymentService;
  loaders: PaymentLoaders;
}
