/** How customer's GraphQL types are backed, for the generated resolver types. */
export type { AddressRecord as AddressModel, CustomerRecord as CustomerModel } from './store/port';
export type { AuthResult as AuthPayloadModel, SessionView as SessionModel } from './customer-service';
