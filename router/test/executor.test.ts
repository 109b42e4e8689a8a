import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildSchema, getOperationAST, parse, type FragmentDefinitionNode } from 'graphql';
import { silentLogger } from '../../platform/logger';
import { compileFetch, runStep, type PlanRun } from '../executor/plan';
import { ShapeCompiler, shapeResponse } from '../executor/shape';
import { SubgraphClient } from '../executor/subgraph-client';

const schema = buildSchema(`
  type Query { products: [Product!]! product(id: ID!): Product node: Node search: [Result] count: Int me: User }
  interface Node { id: ID! }
  union Result = Product | User
  type Product implements Node { id: ID! name: String! price: Int tags: [[String!]] kind: Kind owner: User }
  type User implements Node { id: ID! name: String constructor: String }
  enum Kind { BOOK TOY }
  type Mutation { rename(id: ID!): Product }
`);

function shape(query: string, data: Record<string, unknown>, conditions: Record<string, boolean> = {}) {
  const document = parse(query);
  const operation = getOperationAST(document)!;
  const fragments = document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === 'FragmentDefinition');
  const compiler = new ShapeCompiler(schema, operation, fragments, new Map(Object.entries(conditions)));
  const errors: { message: string; path?: readonly (string | number)[] }[] = [];
  const result = shapeResponse({ root: compiler.root(), compiler }, data, { errors: errors as never, introspect: () => 'introspected' });
  return { data: result, errors: errors.map((e) => ({ message: e.message, path: e.path })) };
}

describe('shaping a response from the data a plan gathered', () => {
  it('keeps only what the operation asked for, in its order, under its aliases', () => {
    const { data, errors } = shape('{ products { price title: name id } count }', {
      count: 2,
      // Subgraphs answer under the response names they were asked for.
      products: [{ __typename: 'Product', id: '1', title: 'Desk', price: 10, sku: 'internal' }],
    });
    expect(JSON.stringify(data)).toBe('{"products":[{"price":10,"title":"Desk","id":"1"}],"count":2}');
    expect(errors).toEqual([]);
  });

  it('bubbles a null to the nearest nullable parent, once, with the error where it started', () => {
    const { data, errors } = shape('{ product(id: "1") { id name } products { id } }', {
      product: { id: '1', name: null },
      products: [{ id: '1' }, { id: null }],
    });
    // products is [Product!]!: the list cannot be null, so the whole response is.
    expect(data).toBeNull();
    expect(errors.map((e) => e.path)).toEqual([
      ['product', 'name'],
      ['products', 1, 'id'],
    ]);
  });

  it('answers __typename from the data, the enclosing fragment or the root type', () => {
    const { data } = shape('{ __typename node { __typename ... on Product { t: __typename } } search { ... on User { __typename name } } }', {
      node: { id: '1', __typename: 'Product' },
      search: [{ __typename: 'User', name: 'Ada' }, { __typename: 'Product', id: '2' }],
    });
    expect(data).toEqual({ __typename: 'Query', node: { __typename: 'Product', t: 'Product' }, search: [{ __typename: 'User', name: 'Ada' }, {}] });
  });

  it('applies fragments by the runtime type, merging fields met twice', () => {
    const { data } = shape(
      `query { node { id ...P ... on Node { id } } } fragment P on Product { name owner { name } owner { id } }`,
      { node: { __typename: 'Product', id: '1', name: 'Desk', owner: { __typename: 'User', id: 'u', name: 'Ada' } } },
    );
    expect(JSON.stringify(data)).toBe('{"node":{"id":"1","name":"Desk","owner":{"name":"Ada","id":"u"}}}');
  });

  it('nulls leaf values of the wrong type and enum values the schema does not have', () => {
    const { data, errors } = shape('{ product(id: "1") { price kind } }', { product: { price: 'ten', kind: 'FOOD' } });
    expect(data).toEqual({ product: { price: null, kind: null } });
    expect(errors).toEqual([
      { message: 'Invalid value found for field Product.price.', path: ['product', 'price'] },
      { message: 'Invalid value found for field Product.kind.', path: ['product', 'kind'] },
    ]);
  });

  it('refuses a __typename the API schema does not have, without naming it', () => {
    const { data, errors } = shape('{ node { id } }', { node: { __typename: 'Secret', id: '1' } });
    expect(data).toEqual({ node: null });
    expect(errors).toEqual([{ message: 'Invalid __typename found for object at field Query.node.', path: ['node'] }]);
  });

  it('walks lists of lists, nulling the inner list whose non-null element is null', () => {
    const { data, errors } = shape('{ product(id: "1") { tags } }', { product: { tags: [['a', 'b'], ['c', null], null] } });
    expect(data).toEqual({ product: { tags: [['a', 'b'], null, null] } });
    expect(errors).toEqual([{ message: 'Cannot return null for non-nullable array element of type String at index 1.', path: ['product', 'tags', 1, 1] }]);
  });

  it('follows @skip and @include as the variables say', () => {
    const query = 'query ($withName: Boolean!, $noId: Boolean!) { product(id: "1") { id @skip(if: $noId) name @include(if: $withName) } }';
    const input = { product: { id: '1', name: 'Desk' } };
    expect(shape(query, input, { withName: true, noId: false }).data).toEqual({ product: { id: '1', name: 'Desk' } });
    expect(shape(query, input, { withName: false, noId: true }).data).toEqual({ product: {} });
  });

  it('reads and writes a response name Object.prototype also has as an own property only', () => {
    const { data } = shape('{ me { constructor toString: name } }', { me: { name: 'Ada' } });
    expect(Object.getOwnPropertyNames(data!.me)).toEqual(['constructor', 'toString']);
    expect((data!.me as Record<string, unknown>).constructor).toBeNull();
  });

  it('answers introspection fields through the caller', () => {
    expect(shape('{ __schema { queryType { name } } count }', { count: 1 }).data).toEqual({ __schema: 'introspected', count: 1 });
  });
});

interface Recorded {
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
}

/** A subgraph answering from `answer`, recording what it was sent. */
async function subgraph(answer: (body: Record<string, unknown>) => { status?: number; body: string }, delayMs = 0) {
  const received: Recorded[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      const body = JSON.parse(text) as Record<string, unknown>;
      received.push({ body, headers: req.headers });
      const { status = 200, body: out } = answer(body);
      setTimeout(() => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(out);
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  return { url, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const context = (authorization?: string) => ({ requestId: 'r1', headers: { authorization }, logger: silentLogger() }) as never;

describe('the subgraph client', () => {
  it('shares one request among identical queries in flight, per credentials, and never for mutations', async () => {
    const server = await subgraph(() => ({ body: '{"data":{"count":1}}' }), 30);
    const client = new SubgraphClient(new Map([['a', server.url]]), { logger: silentLogger() });
    try {
      const body = '{"query":"{ count }","variables":{}}';
      const answers = await Promise.all([
        client.send('a', body, context('Bearer x'), true),
        client.send('a', body, context('Bearer x'), true),
        client.send('a', body, context('Bearer y'), true),
        client.send('a', body, context('Bearer x'), false),
      ]);
      expect(answers.map((a) => a.data)).toEqual([{ count: 1 }, { count: 1 }, { count: 1 }, { count: 1 }]);
      // Each caller gets its own parsed answer: merging into one never shows in another.
      expect(answers[0]).not.toBe(answers[1]);
      expect(server.received.map((r) => r.headers.authorization).sort()).toEqual(['Bearer x', 'Bearer x', 'Bearer y']);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('sends every request when sharing is off', async () => {
    const server = await subgraph(() => ({ body: '{"data":{"count":1}}' }), 20);
    const client = new SubgraphClient(new Map([['a', server.url]]), { logger: silentLogger(), deduplicate: false });
    try {
      const body = '{"query":"{ count }","variables":{}}';
      await Promise.all([client.send('a', body, context(), true), client.send('a', body, context(), true)]);
      expect(server.received).toHaveLength(2);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('makes a subgraph that fails, answers an HTTP error or no GraphQL response SUBGRAPH_UNAVAILABLE', async () => {
    const server = await subgraph((body) =>
      String(body.query).includes('broken') ? { body: 'not json' } : { status: 500, body: '{"errors":[{"message":"boom"}]}' },
    );
    const client = new SubgraphClient(new Map([['a', server.url], ['gone', 'http://127.0.0.1:1/graphql']]), { logger: silentLogger() });
    try {
      for (const [name, query] of [['a', '{ broken }'], ['a', '{ count }'], ['gone', '{ count }']] as const) {
        await expect(client.send(name, JSON.stringify({ query }), context(), true)).rejects.toMatchObject({
          extensions: { code: 'SUBGRAPH_UNAVAILABLE' },
        });
      }
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('reads an answer written in pieces, a character split between them, and refuses one cut off', async () => {
    const name = `Ünïcødé ✓ ${'x'.repeat(100_000)} 🛒`;
    const whole = Buffer.from(JSON.stringify({ data: { product: { name } } }));
    // Splits inside the multi-byte characters at both ends, and writes the rest in small pieces.
    const cuts = [whole.indexOf('Ü') + 1, whole.indexOf('✓') + 2, whole.length - 5];
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', async () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        if (req.headers['x-request-id'] === 'cut') {
          res.write(whole.subarray(0, 1000));
          setTimeout(() => res.socket?.destroy(), 20);
          return;
        }
        let from = 0;
        for (const to of [...cuts, whole.length]) {
          for (let at = from; at < to; at += 16_384) {
            res.write(whole.subarray(at, Math.min(at + 16_384, to)));
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
          from = to;
        }
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    const client = new SubgraphClient(new Map([['a', url]]), { logger: silentLogger() });
    try {
      const answer = await client.send('a', '{"query":"{ product { name } }"}', context(), true);
      const got = (answer.data as { product: { name: string } }).product.name;
      // Its ends and length say what went wrong without printing 100,000 characters.
      const sketch = (text: string) => ({ start: text.slice(0, 12), end: text.slice(-4), length: text.length });
      expect(sketch(got)).toEqual(sketch(name));
      expect(got === name).toBe(true);
      const cut = { requestId: 'cut', headers: {}, logger: silentLogger() } as never;
      await expect(client.send('a', '{"query":"{ product { name } }"}', cut, true)).rejects.toMatchObject({
        extensions: { code: 'SUBGRAPH_UNAVAILABLE' },
      });
    } finally {
      await client.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('running an entity fetch', () => {
  it('asks once per distinct entity and merges the answer into every place it appears, errors included', async () => {
    const server = await subgraph((body) => {
      const representations = (body.variables as { representations: { id: string }[] }).representations;
      return {
        body: JSON.stringify({
          data: { _entities: representations.map((r) => (r.id === '2' ? null : { name: `P${r.id}` })) },
          errors: [{ message: 'no such product', path: ['_entities', representations.findIndex((r) => r.id === '2'), 'name'] }],
        }),
      };
    });
    const client = new SubgraphClient(new Map([['products', server.url]]), { logger: silentLogger() });
    const supergraph = buildSchema('type Query { a: Int } type Product { id: ID! name: String }');
    const fetch = compileFetch(
      {
        kind: 'Fetch',
        serviceName: 'products',
        operation: 'query($representations:[_Any!]!){_entities(representations:$representations){...on Product{name}}}',
        operationName: undefined,
        operationKind: 'query' as never,
        variableUsages: [],
        requires: [{ kind: 'InlineFragment', typeCondition: 'Product', selections: [{ kind: 'Field', name: '__typename' }, { kind: 'Field', name: 'id' }] }],
      },
      supergraph,
    );
    const data = {
      lines: [{ product: { __typename: 'Product', id: '1' } }, { product: { __typename: 'Product', id: '2' } }, { product: { __typename: 'Product', id: '1' } }],
    };
    const run: PlanRun = { data, errors: [], variables: {}, variableDefinitions: [], client, context: context(), schema: supergraph };
    try {
      await runStep({ kind: 'flatten', path: ['lines', '@', 'product'], step: { kind: 'fetch', fetch } }, run);
      expect((server.received[0]!.body.variables as { representations: unknown[] }).representations).toEqual([
        { __typename: 'Product', id: '1' },
        { __typename: 'Product', id: '2' },
      ]);
      expect(data.lines.map((l) => (l.product as { name?: string }).name)).toEqual(['P1', undefined, 'P1']);
      expect(run.errors.map((e) => ({ message: e.message, path: e.path, code: e.extensions.code }))).toEqual([
        { message: 'no such product', path: ['lines', 1, 'product', 'name'], code: 'DOWNSTREAM_SERVICE_ERROR' },
      ]);
    } finally {
      await client.close();
      await server.close();
    }
  });
});
