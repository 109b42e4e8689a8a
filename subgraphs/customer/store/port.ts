import type { Address } from '../../../platform/address';
import type { Scope } from '../../../platform/auth';
import type { StoreHandle } from '../../../platform/server';

/** A postal address as stored inside its customer. */
export interface AddressRecord extends Address {
  id: string;
}

/** A customer as the domain reads it; the password hash stays out of it. */
export interface CustomerRecord {
  id: string;
  /** Lower case; unique over all customers. */
  email: string;
  name: string;
  scopes: Scope[];
  /** Oldest first. */
  addresses: AddressRecord[];
  createdAt: Date;
}

/** A customer with the credential that signs them in: what is written, and what login reads. */
export interface StoredCustomer extends CustomerRecord {
  /** argon2id PHC string. */
  passwordHash: string;
}

/** An insert the store refused because the id or the email (case-insensitively) is taken. */
export interface Duplicate {
  kind: 'duplicate';
}

/** Why an address was not appended. */
export type AddAddressRefusal = { kind: 'not-found' } | { kind: 'limit-reached'; limit: number };

/**
 * Where customers live: one document per customer with its addresses embedded, so a
 * document store (MongoDB) and PostgreSQL JSONB serve the same port.
 */
export interface CustomerStore extends StoreHandle {
  /** Customers by id, in one query; unknown ids are absent. */
  findByIds(ids: readonly string[]): Promise<CustomerRecord[]>;
  /** The customer with this email compared case-insensitively, with the password hash; null when none. */
  findByEmail(email: string): Promise<StoredCustomer | null>;
  /** Adds one customer; refuses, changing nothing, when the id or email exists. */
  insert(customer: StoredCustomer): Promise<CustomerRecord | Duplicate>;
  /**
   * Appends an address in one atomic write, only while the customer has fewer than
   * `limit`: concurrent appends can never exceed it.
   */
  addAddress(customerId: string, address: AddressRecord, limit: number): Promise<AddressRecord | AddAddressRefusal>;
  /** Whether the store holds no customer (seeding). */
  isEmpty(): Promise<boolean>;
  /** Adds many customers in one transaction, skipping ids or emails that exist; returns how many were added. */
  insertMany(customers: readonly StoredCustomer[]): Promise<number>;
  /** Statements sent to the store so far (batching tests, metrics). */
  statementCount(): number;
}
