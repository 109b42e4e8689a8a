import { buildSchema, getOperationAST, parse, print } from 'graphql';
import { AuthPolicy, denialFor, filterOperation, restoreRemoved, type Caller } from '../auth-filter';

const SDL = `
  directive @authenticated on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
  directive @requiresScopes(scopes: [[String!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM

  type Query {
    me: Customer @authenticated
    customer(id: ID!): Customer
    customers: [Customer!]!
    products: [Product!]!
    warehouses: [Warehouse!]! @requiresScopes(scopes: [["admin"]])
    audit: String @requiresScopes(scopes: [["admin"], ["support", "read"]])
    vault: Vault
  }
  type Mutation {
    placeOrder: ID! @authenticated
    ping: Boolean
  }
  type Customer { id: ID! name: String! email: String! @authenticated addresses: [Address!] @authenticated }
  type Address { city: String! }
  type Product { id: ID! name: String! }
  type Warehouse { id: ID! }
  type Vault @authenticated { id: ID! }
`;
const schema = buildSchema(SDL);
const policy = new AuthPolicy(SDL);

const anonymous: Caller = { authenticated: false, scopes: [] };
const customer: Caller = { authenticated: true, scopes: ['customer'] };
const admin: Caller = { authenticated: true, scopes: ['customer', 'admin'] };

function filter(text: string, caller: Caller) {
  const document = parse(text);
  return filterOperation(schema, document, getOperationAST(document)!, policy, caller);
}

/** Filters, then pretends the subgraphs answered `data` for the filtered operation, and restores. */
function run(text: string, caller: Caller, data: Record<string, unknown>) {
  const filtered = filter(text, caller);
  return { filtered, ...(filtered.removed ? restoreRemoved(structuredClone(data), filtered.removed) : { data, errors: [] }) };
}

describe('authorization rules read from the supergraph', () => {
  it('needs a token for @authenticated fields and for fields returning an @authenticated type', () => {
    expect(denialFor(policy.requirements('Query', 'me', 'Customer'), anonymous)?.code).toBe('UNAUTHENTICATED');
    expect(denialFor(policy.requirements('Query', 'vault', 'Vault'), anonymous)?.code).toBe('UNAUTHENTICATED');
    expect(denialFor(policy.requirements('Query', 'vault', 'Vault'), customer)).toBeNull();
  });

  it('needs one full set of the listed scopes; without a token it is UNAUTHENTICATED, with one FORBIDDEN', () => {
    const audit = policy.requirements('Query', 'audit', 'String');
    expect(denialFor(audit, anonymous)?.code).toBe('UNAUTHENTICATED');
    expect(denialFor(audit, customer)?.code).toBe('FORBIDDEN');
    expect(denialFor(audit, { authenticated: true, scopes: ['support'] })?.code).toBe('FORBIDDEN');
    expect(denialFor(audit, { authenticated: true, scopes: ['support', 'read'] })).toBeNull();
    expect(denialFor(audit, admin)).toBeNull();
  });
});

describe('filtering an operation before it is planned', () => {
  it('leaves an operation the caller may see whole untouched', () => {
    const document = parse('{ me { id email } products { id } }');
    const filtered = filterOperation(schema, document, getOperationAST(document)!, policy, customer);
    expect(filtered.removed).toBeNull();
    expect(filtered.document).toBe(document);
  });

  it('removes what an anonymous caller may not see, serves the rest, and puts the field back as null with an error', () => {
    const { filtered, data, errors } = run('{ me { id } products { id } }', anonymous, { products: [{ id: 'p1' }] });
    expect(print(filtered.document)).not.toContain('me');
    expect(data).toEqual({ me: null, products: [{ id: 'p1' }] });
    expect(errors).toEqual([{ message: 'Sign in to see this field.', path: ['me'], extensions: { code: 'UNAUTHENTICATED' } }]);
  });

  it('tells a customer asking for admin fields FORBIDDEN, next to the public ones they get', () => {
    const { data, errors } = run('{ warehouses { id } products { name } }', customer, { products: [{ name: 'Lamp' }] });
    // warehouses is non-null at the root: its null takes the whole data with it.
    expect(data).toBeNull();
    expect(errors).toEqual([expect.objectContaining({ path: ['warehouses'], extensions: { code: 'FORBIDDEN' } })]);
  });

  it('propagates a removed non-null field to the nearest nullable parent', () => {
    const { data, errors } = run('{ customer(id: "c1") { id name email } }', anonymous, { customer: { id: 'c1', name: 'Ann' } });
    expect(data).toEqual({ customer: null });
    expect(errors).toEqual([expect.objectContaining({ path: ['customer', 'email'], extensions: { code: 'UNAUTHENTICATED' } })]);
  });

  it('keeps a nullable removed field as null in every item of a list, with an error at each path', () => {
    const { data, errors } = run('{ customers { id addresses { city } } }', anonymous, { customers: [{ id: 'a' }, { id: 'b' }] });
    expect(data).toEqual({ customers: [{ id: 'a', addresses: null }, { id: 'b', addresses: null }] });
    expect(errors.map((e) => e.path)).toEqual([
      ['customers', 0, 'addresses'],
      ['customers', 1, 'addresses'],
    ]);
  });

  it('nulls a non-null item, then its non-null list, up to the root', () => {
    const { data } = run('{ customers { id email } }', anonymous, { customers: [{ id: 'a' }] });
    expect(data).toBeNull();
  });

  it('selects __typename where every field of a selection was removed, and takes it out again', () => {
    const { filtered, data } = run('query { customer(id: "c1") { email } }', anonymous, { customer: { __typename: 'Customer' } });
    expect(print(filtered.document)).toContain('__typename');
    expect(data).toEqual({ customer: null });
    const nullable = run('{ customer(id: "c1") { addresses { city } } }', anonymous, { customer: { __typename: 'Customer' } });
    expect(nullable.data).toEqual({ customer: { addresses: null } });
  });

  it('sees through fragments and inline fragments: a removed field cannot hide in one', () => {
    const text = `query { customer(id: "c1") { ...Who } } fragment Who on Customer { id ... on Customer { email } }`;
    const { filtered, data, errors } = run(text, anonymous, { customer: { id: 'c1' } });
    expect(print(filtered.document)).not.toContain('email');
    expect(print(filtered.document)).not.toContain('fragment');
    expect(data).toEqual({ customer: null });
    expect(errors[0]?.path).toEqual(['customer', 'email']);
  });

  it('keeps aliases: the error and the null land at the alias', () => {
    const { data, errors } = run('{ mine: me { id } }', anonymous, {});
    expect(data).toEqual({ mine: null });
    expect(errors[0]?.path).toEqual(['mine']);
  });

  it('says when nothing is left to execute, and answers the removed root fields with nulls', () => {
    const filtered = filter('mutation { placeOrder }', anonymous);
    expect(filtered.nothingLeft).toBe(true);
    expect(restoreRemoved({}, filtered.removed!).data).toBeNull();
    const query = filter('{ me { id } }', anonymous);
    expect(query.nothingLeft).toBe(true);
    expect(restoreRemoved({}, query.removed!)).toEqual({ data: { me: null }, errors: [expect.objectContaining({ path: ['me'] })] });
  });

  it('reports a removed field no data reached once, at its path without indexes', () => {
    const { errors } = run('{ customers { id addresses { city } } }', anonymous, { customers: [] });
    expect(errors).toEqual([expect.objectContaining({ path: ['customers', 'addresses'] })]);
  });

  it('gives filtered shapes of one operation different signatures, so they are planned apart', () => {
    const text = '{ me { id } audit }';
    expect(filter(text, anonymous).signature).not.toBe(filter(text, customer).signature);
    expect(filter(text, admin).signature).toBe('');
  });
});
