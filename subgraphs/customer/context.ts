import type { RequestContext } from '../../platform/context';
import type { ApiKeyService } from './api-keys';
import type { CustomerLoaders, CustomerService } from './customer-service';

/** What customer resolvers receive for one request. */
export interface CustomerContext extends RequestContext {
  customers: CustomerService;
  apiKeys: ApiKeyService;
  loaders: CustomerLoaders;
}
