/**
 * The four subgraphs of The Guild's federation gateways benchmark
 * (graphql-hive/graphql-gateways-benchmark, "constant VUs"): accounts, inventory, products
 * and reviews, with the schemas and resolver rules of the original, over the records in
 * `data.json` (default `../shared/bench/guild/` beside the repository).
 *
 * They are real Federation 2 subgraphs (`buildSubgraphSchema`, graphql-js), served lean so
 * that they are not what limits a gateway's measurement: plain `node:http`, one port each,
 * every query text parsed and validated once, every request body executed once (see
 * ANSWER_CACHE_SIZE), no Apollo Server, and `bench/gateway.ts` runs them with
 * NODE_ENV=production.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { execute, parse, validate, type DocumentNode, type ExecutionResult, type GraphQLError, type GraphQLSchema } from 'graphql';

/** The scenario's data folder: `data.json`, `query.json`, `expected.json`. */
export const GUILD_DATA_DIR = path.resolve(__dirname, '..', '..', '..', 'shared', 'bench', 'guild');

export const GUILD_SUBGRAPHS = ['accounts', 'inventory', 'products', 'reviews'] as const;
export type GuildSubgraph = (typeof GUILD_SUBGRAPHS)[number];

/** The records the four subgraphs serve, as `data.json` holds them. */
export interface GuildData {
  users: { id: string; name: string; username: string; birthday: number }[];
  inventory: { upc: string; inStock: boolean }[];
  products: { upc: string; name: string; price: number; weight: number }[];
  reviews: { id: string; body: string; productUpc: string }[];
}

/** The three files of the scenario. */
export interface GuildScenario {
  data: GuildData;
  /** The request body every client sends, verbatim. */
  requestBody: string;
  /** The exact response a correct gateway gives. */
  expected: { data: unknown };
}

export function readGuildScenario(dir: string = GUILD_DATA_DIR): GuildScenario {
  const read = (file: string) => fs.readFileSync(path.join(dir, file), 'utf8');
  return {
    data: JSON.parse(read('data.json')) as GuildData,
    requestBody: read('query.json'),
    expected: JSON.parse(read('expected.json')) as { data: unknown },
  };
}

const LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires", "@provides", "@shareable"])';

/** Each subgraph's schema, as in the original benchmark. */
export const GUILD_TYPE_DEFS: Record<GuildSubgraph, DocumentNode> = {
  accounts: parse(`${LINK}
    type Query {
      "The signed-in user (always the first)."
      me: User
      user(id: ID!): User
      users: [User]
    }
    "A user account."
    type User @key(fields: "id") {
      id: ID!
      name: String
      "Also provided by the reviews subgraph with a review's author."
      username: String @shareable
      "Seconds since the epoch."
      birthday: Int
    }`),
  products: parse(`${LINK}
    type Query {
      "The first products of the catalog."
      topProducts(first: Int = 5): [Product]
    }
    "A product of the catalog."
    type Product @key(fields: "upc") {
      upc: String!
      name: String
      price: Int
      weight: Int
    }`),
  inventory: parse(`${LINK}
    "A product's stock."
    type Product @key(fields: "upc") {
      upc: String!
      weight: Int @external
      price: Int @external
      inStock: Boolean
      "Shipping cost, from the product's price and weight."
      shippingEstimate: Int @requires(fields: "price weight")
    }`),
  reviews: parse(`${LINK}
    "A review of a product by a user."
    type Review @key(fields: "id") {
      id: ID!
      body: String
      product: Product
      author: User @provides(fields: "username")
    }
    "A user's reviews."
    type User @key(fields: "id") {
      id: ID!
      username: String @external
      reviews: [Review]
    }
    "A product's reviews."
    type Product @key(fields: "upc") {
      upc: String!
      reviews: [Review]
    }`),
};

type Review = GuildData['reviews'][number];

/**
 * Resolvers with the original's rules, which `expected.json` depends on: every review's
 * author is user 1 (`urigo`, provided by the reviews subgraph); every user's `reviews` are the
 * first two reviews; `shippingEstimate` is computed from inventory's own record, which holds
 * no price or weight, so it is always null, while its `@requires` still makes a gateway fetch
 * price and weight from products first.
 */
export function guildResolvers(data: GuildData): Record<GuildSubgraph, GraphQLResolverMap<unknown>> {
  const users = new Map(data.users.map((u) => [u.id, u]));
  const products = new Map(data.products.map((p) => [p.upc, p]));
  const stock = new Map(data.inventory.map((i) => [i.upc, i]));
  const reviews = new Map(data.reviews.map((r) => [r.id, r]));
  const reviewsOf = new Map<string, Review[]>();
  for (const review of data.reviews) reviewsOf.set(review.productUpc, [...(reviewsOf.get(review.productUpc) ?? []), review]);
  const author = { id: '1', username: 'urigo' };
  return {
    accounts: {
      Query: {
        me: () => data.users[0] ?? null,
        user: (_: unknown, { id }: { id: string }) => users.get(id) ?? null,
        users: () => data.users,
      },
      User: { __resolveReference: ({ id }: { id: string }) => users.get(id) ?? null },
    },
    products: {
      Query: { topProducts: (_: unknown, { first }: { first: number }) => data.products.slice(0, Math.max(0, first)) },
      Product: { __resolveReference: ({ upc }: { upc: string }) => products.get(upc) ?? null },
    },
    inventory: {
      Product: {
        __resolveReference: ({ upc }: { upc: string }) => stock.get(upc) ?? null,
        shippingEstimate: (record: { price?: number; weight?: number }) => {
          if (record.price === undefined) return null;
          if (record.price > 1000) return 0;
          return record.weight === undefined ? null : Math.trunc(record.weight / 2);
        },
      },
    },
    reviews: {
      Review: {
        __resolveReference: ({ id }: { id: string }) => reviews.get(id) ?? null,
        product: (review: Review) => ({ upc: review.productUpc }),
        author: () => author,
      },
      User: {
        __resolveReference: ({ id }: { id: string }) => ({ id }),
        reviews: () => data.reviews.slice(0, 2),
      },
      Product: {
        __resolveReference: ({ upc }: { upc: string }) => ({ upc }),
        reviews: ({ upc }: { upc: string }) => reviewsOf.get(upc) ?? [],
      },
    },
  };
}

/** The supergraph of the four subgraphs at `urls`, composed with `@apollo/composition`. */
export function composeGuildSupergraph(urls: Record<GuildSubgraph, string>): string {
  const result = composeServices(GUILD_SUBGRAPHS.map((name) => ({ name, url: urls[name], typeDefs: GUILD_TYPE_DEFS[name] })));
  if (result.errors) throw new Error(`composition failed:\n${result.errors.map((e) => `  - ${e.message}`).join('\n')}`);
  return result.supergraphSdl;
}

/** Query texts whose parse and validation a subgraph keeps; a gateway sends a handful. */
const DOCUMENT_CACHE_SIZE = 1000;
/**
 * Request bodies whose answer a subgraph keeps. The data never changes, so the same body
 * always has the same answer; a gateway running one query sends the same few bodies over
 * and over. Each is executed once, then answered with the bytes it got: the subgraphs share
 * a core with the load generator, and executing every request had let them fill it before a
 * fast gateway filled its own.
 */
const ANSWER_CACHE_SIZE = 1000;

interface GraphQLBody {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
}

/** A request listener serving `schema` at any path: POST, JSON in and out. */
function graphqlListener(schema: GraphQLSchema, onRequest: () => void): http.RequestListener {
  const documents = new Map<string, { document: DocumentNode } | { errors: readonly GraphQLError[] }>();
  const documentFor = (text: string) => {
    let entry = documents.get(text);
    if (!entry) {
      try {
        const document = parse(text);
        const errors = validate(schema, document);
        entry = errors.length ? { errors } : { document };
      } catch (error) {
        entry = { errors: [error as GraphQLError] };
      }
      if (documents.size >= DOCUMENT_CACHE_SIZE) documents.clear();
      documents.set(text, entry);
    }
    return entry;
  };
  const answers = new Map<string, Buffer>();
  const write = (res: http.ServerResponse, status: number, body: Buffer) => {
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  };
  const send = (res: http.ServerResponse, status: number, result: ExecutionResult | { errors: { message: string }[] }) =>
    write(res, status, Buffer.from(JSON.stringify(result)));
  return (req, res) => {
    onRequest();
    if (req.method !== 'POST') return send(res, 405, { errors: [{ message: 'POST a GraphQL request' }] });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const kept = answers.get(text);
      if (kept) return write(res, 200, kept);
      let body: GraphQLBody;
      try {
        body = JSON.parse(text) as GraphQLBody;
      } catch {
        return send(res, 400, { errors: [{ message: 'the body is not JSON' }] });
      }
      if (typeof body.query !== 'string') return send(res, 400, { errors: [{ message: 'no query' }] });
      const entry = documentFor(body.query);
      if ('errors' in entry) return send(res, 400, { errors: entry.errors.map((e) => ({ message: e.message })) });
      void Promise.resolve(
        execute({
          schema,
          document: entry.document,
          variableValues: (body.variables ?? undefined) as Record<string, unknown> | undefined,
          operationName: typeof body.operationName === 'string' ? body.operationName : undefined,
          contextValue: {},
        }),
      ).then(
        (result) => {
          const answer = Buffer.from(JSON.stringify(result));
          if (!result.errors) {
            if (answers.size >= ANSWER_CACHE_SIZE) answers.clear();
            answers.set(text, answer);
          }
          write(res, 200, answer);
        },
        (error: unknown) => send(res, 500, { errors: [{ message: error instanceof Error ? error.message : String(error) }] }),
      );
    });
  };
}

export interface GuildSubgraphServers {
  urls: Record<GuildSubgraph, string>;
  /** Requests each subgraph has received since start. */
  requests(): Record<GuildSubgraph, number>;
  close(): Promise<void>;
}

/** The four subgraphs over `data`, each on a port of its own (0: a free one). */
export async function startGuildSubgraphs(data: GuildData, host = '127.0.0.1'): Promise<GuildSubgraphServers> {
  const resolvers = guildResolvers(data);
  const counts = Object.fromEntries(GUILD_SUBGRAPHS.map((name) => [name, 0])) as Record<GuildSubgraph, number>;
  const servers: http.Server[] = [];
  const urls = {} as Record<GuildSubgraph, string>;
  try {
    for (const name of GUILD_SUBGRAPHS) {
      const schema = buildSubgraphSchema([{ typeDefs: GUILD_TYPE_DEFS[name], resolvers: resolvers[name] }]);
      const server = http.createServer({ keepAliveTimeout: 65_000 }, graphqlListener(schema, () => (counts[name] += 1)));
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, host, () => resolve());
      });
      urls[name] = `http://${host}:${(server.address() as AddressInfo).port}/graphql`;
    }
  } catch (error) {
    for (const server of servers) server.close();
    throw error;
  }
  return {
    urls,
    requests: () => ({ ...counts }),
    close: async () => {
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeAllConnections();
            }),
        ),
      );
    },
  };
}
