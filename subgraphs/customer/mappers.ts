/** How customer's GraphQL types are backed, for the generated resolver types. */
export type { AddressRecord as AddressModel, ApiKeyRecord as ApiKeyModel, CustomerRecord as CustomerModel } from './store/port';
export type { CreatedApiKey as CreatedApiKeyModel } from './api-keys';
export type { AuthResult as AuthPayloadModel, SessionView as SessionModel } from './customer-service';
