import fs from 'node:fs';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { parse, printSchema } from 'graphql';
import { ContractError, contractSchema } from '../contract';

const LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@tag"])';

function supergraph(...sdls: string[]): string {
  const result = composeServices(sdls.map((sdl, i) => ({ name: `s${i}`, url: `http://s${i}/graphql`, typeDefs: parse(`${LINK}\n${sdl}`) })));
  if (result.errors) throw new Error(result.errors.map((e) => e.message).join('\n'));
  return result.supergraphSdl!;
}

const P = '@tag(name: "partner")';

describe('the partner contract', () => {
  it('keeps only what is tagged: types, fields, arguments, enum values and input fields, with their descriptions', () => {
    const sdl = supergraph(
      `"""A product."""
       type Product @key(fields: "id") ${P} { id: ID! ${P} secret: String """Its name.""" name: String! ${P} }
       enum Sort ${P} { NAME ${P} COST }
       input Filter ${P} { text: String ${P} internal: Boolean }
       type Query ${P} { products(sort: Sort ${P}, filter: Filter ${P}, debug: Boolean): [Product!]! ${P} admin: String }
       type Mutation { wipe: Boolean }`,
      `type Product @key(fields: "id") { id: ID! stock: Int }`,
    );
    expect(printSchema(contractSchema(sdl))).toBe(
      [
        'input Filter {\n  text: String\n}',
        '"""A product."""\ntype Product {\n  id: ID!\n\n  """Its name."""\n  name: String!\n}',
        'type Query {\n  products(sort: Sort, filter: Filter): [Product!]!\n}',
        'enum Sort {\n  NAME\n}',
      ].join('\n\n'),
    );
  });

  it('refuses tags that make no consistent contract, listing every problem', () => {
    const sdl = supergraph(
      `type Hidden { a: Int }
       type Empty ${P} { a: Int }
       type Query ${P} { hidden: Hidden ${P} empty: Empty ${P} find(id: ID!): Int ${P} }`,
    );
    expect(() => contractSchema(sdl)).toThrow(ContractError);
    try {
      contractSchema(sdl);
    } catch (error) {
      expect((error as ContractError).problems.sort()).toEqual([
        'Empty is tagged but none of its fields is',
        'Query.find.id is required but not tagged',
        'Query.hidden is tagged but its type Hidden is not',
      ]);
    }
  });

  it('leaves customers, orders, payments, warehouse stock and admin operations out of the shop’s contract', () => {
    const sdl = fs.readFileSync(path.resolve(__dirname, '../../schema/supergraph.graphql'), 'utf8');
    const contract = contractSchema(sdl);
    for (const hidden of ['Customer', 'Order', 'Payment', 'StockLevel', 'Warehouse', 'ApiKey', 'CreateProductInput']) expect(contract.getType(hidden)).toBeUndefined();
    expect(contract.getMutationType()).toBeUndefined();
    expect(contract.getSubscriptionType()).toBeUndefined();
    expect(Object.keys(contract.getQueryType()!.getFields()).sort()).toEqual(['brands', 'categories', 'product', 'products', 'searchProducts']);
  });
});
