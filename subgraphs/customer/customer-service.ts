import { randomBytes, randomUUID } from 'node:crypto';
import type DataLoader from 'dataloader';
import { requireCustomer, requireOwnerOrAdmin, type AccessTokens, type Scope, type Viewer } from '../../platform/auth';
import { ShopError, badUserInput, notFound, unauthenticated } from '../../platform/errors';
import { recordLoader } from '../../platform/loaders';
import { mapConcurrently } from './concurrency';
import {
  PASSWORD_MAX,
  normalizeEmail,
  parseAddressInput,
  parseRegisterInput,
  type AddressFields,
  type AddressInput,
} from './customer-input';
import { argon2idHasher, type PasswordHasher } from './password-hasher';
import type { AddressRecord, CustomerRecord, CustomerStore, StoredCustomer } from './store/port';

/** Addresses one customer can keep; more is an address book, not a shop account. */
export const MAX_ADDRESSES = 10;

/**
 * argon2 hashes computed at once when importing: each holds a libuv thread and 19 MiB,
 * and libuv has four threads by default.
 */
export const IMPORT_HASH_CONCURRENCY = 4;

/** The one answer to every failed sign-in, so it never tells whether the email exists. */
export const WRONG_CREDENTIALS = 'Email or password is wrong.';

/** A signed-in session: the token and whose it is. */
export interface AuthResult {
  accessToken: string;
  expiresAt: Date;
  customer: CustomerRecord;
}

/** A customer brought in by bulk import (seeding): given id and creation time, plain password. */
export interface ImportedCustomer {
  id: string;
  email: string;
  name: string;
  password: string;
  admin: boolean;
  createdAt: Date;
  addresses: AddressInput[];
}

/** This request's batched readers of customers. */
export interface CustomerLoaders {
  customers: DataLoader<string, CustomerRecord | null>;
}

/**
 * Marks the customer a sign-up or sign-in returns: they just proved who they are with
 * their password, though the request carried no token, so they may read their own details.
 * A symbol, so no client input (such as an entity representation) can carry it.
 */
const SIGNED_IN = Symbol('signed in by this request');

type SignedInCustomer = CustomerRecord & { readonly [SIGNED_IN]?: true };

function withId(address: AddressFields): AddressRecord {
  return { id: randomUUID(), ...address };
}

/** Customer's rules: sign-up, sign-in, who may see whose details, and what an address is. */
export class CustomerService {
  /**
   * Checked when the email is unknown so that a failed sign-in costs one argon2 verify
   * either way; made at start so the first unknown email is not slower than the rest.
   */
  private readonly dummyHash: Promise<string>;

  constructor(
    private readonly store: CustomerStore,
    private readonly tokens: Pick<AccessTokens, 'issue'>,
    private readonly hasher: PasswordHasher = argon2idHasher(),
  ) {
    this.dummyHash = hasher.hash(randomBytes(24).toString('base64url'));
    // A failure surfaces on the first sign-in that needs it, not as an unhandled rejection.
    this.dummyHash.catch(() => {});
  }

  loaders(): CustomerLoaders {
    return { customers: recordLoader((ids) => this.store.findByIds(ids), (c) => c.id) };
  }

  /** The signed-in customer; null when their account is gone. */
  async me(viewer: Viewer, loaders: CustomerLoaders): Promise<CustomerRecord | null> {
    const { customerId } = requireCustomer(viewer);
    return loaders.customers.load(customerId);
  }

  /** A customer's email, for that customer or an admin only. */
  email(viewer: Viewer, customer: CustomerRecord): string {
    this.requireOwnDetails(viewer, customer);
    return customer.email;
  }

  /** A customer's addresses, for that customer or an admin only. */
  addresses(viewer: Viewer, customer: CustomerRecord): AddressRecord[] {
    this.requireOwnDetails(viewer, customer);
    return customer.addresses;
  }

  async register(input: { email: string; password: string; name: string }): Promise<AuthResult> {
    const fields = parseRegisterInput(input);
    const stored: StoredCustomer = {
      id: randomUUID(),
      email: fields.email,
      name: fields.name,
      scopes: ['customer'],
      addresses: [],
      createdAt: new Date(),
      passwordHash: await this.hasher.hash(fields.password),
    };
    const result = await this.store.insert(stored);
    if ('kind' in result) {
      throw new ShopError('EMAIL_ALREADY_REGISTERED', 'An account with this email address already exists.', {
        field: 'email',
      });
    }
    return this.signIn(result);
  }

  async login(input: { email: string; password: string }): Promise<AuthResult> {
    // No registered password is this long, and hashing it would only cost us time.
    if (input.password.length > PASSWORD_MAX) throw unauthenticated(WRONG_CREDENTIALS);
    const found = await this.store.findByEmail(normalizeEmail(input.email));
    const matches = await this.hasher.verify(found?.passwordHash ?? (await this.dummyHash), input.password);
    if (!found || !matches) throw unauthenticated(WRONG_CREDENTIALS);
    const { passwordHash: _hash, ...customer } = found;
    return this.signIn(customer);
  }

  async addAddress(viewer: Viewer, input: AddressInput, loaders: CustomerLoaders): Promise<AddressRecord> {
    const { customerId } = requireCustomer(viewer);
    const address = withId(parseAddressInput(input));
    const result = await this.store.addAddress(customerId, address, MAX_ADDRESSES);
    if ('kind' in result) {
      if (result.kind === 'not-found') throw notFound('Customer');
      throw new ShopError('CONFLICT', `A customer can keep at most ${result.limit} addresses.`, { limit: result.limit });
    }
    loaders.customers.clear(customerId);
    return result;
  }

  /** Whether no customer exists yet (seeding). */
  isEmpty(): Promise<boolean> {
    return this.store.isEmpty();
  }

  /**
   * Adds many customers at once under the same rules as sign-up: every field validated,
   * each password hashed with its own salt. Existing ids or emails are skipped.
   * Returns how many were added.
   */
  async importCustomers(list: readonly ImportedCustomer[]): Promise<number> {
    const parsed = list.map((customer) => {
      const fields = parseRegisterInput(customer);
      if (customer.addresses.length > MAX_ADDRESSES) {
        throw badUserInput(`Customer ${customer.id} has more than ${MAX_ADDRESSES} addresses.`, { field: 'addresses' });
      }
      const scopes: Scope[] = customer.admin ? ['customer', 'admin'] : ['customer'];
      return {
        id: customer.id,
        email: fields.email,
        name: fields.name,
        password: fields.password,
        scopes,
        addresses: customer.addresses.map((a) => withId(parseAddressInput(a))),
        createdAt: customer.createdAt,
      };
    });
    const stored = await mapConcurrently(parsed, IMPORT_HASH_CONCURRENCY, async ({ password, ...customer }) => ({
      ...customer,
      passwordHash: await this.hasher.hash(password),
    }));
    return this.store.insertMany(stored);
  }

  private requireOwnDetails(viewer: Viewer, customer: SignedInCustomer): void {
    if (customer[SIGNED_IN]) return;
    requireOwnerOrAdmin(viewer, customer.id);
  }

  private async signIn(customer: CustomerRecord): Promise<AuthResult> {
    const { token, expiresAt } = await this.tokens.issue(customer.id, customer.scopes);
    const signedIn: SignedInCustomer = { ...customer, [SIGNED_IN]: true };
    return { accessToken: token, expiresAt, customer: signedIn };
  }
}
