/**
 * `npm run compose`: composes every subgraph's `schema.graphql` into
 * `schema/supergraph.graphql` with `@apollo/composition`, and cuts the partner contract
 * out of it into `schema/partner.graphql`. The committed files are what the router serves
 * and what partners read; a test fails when they are stale.
 */
import fs from 'node:fs';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { parse, printSchema } from 'graphql';
import { contractSchema } from '../router/contract';
import { SUBGRAPHS } from './subgraphs';

const ROOT = path.resolve(__dirname, '..');
/** The supergraph of the embedded shop and of `npm run router`: subgraphs on localhost. */
export const SUPERGRAPH_FILE = path.join(ROOT, 'schema', 'supergraph.graphql');
/** The same graph for `docker compose`: each subgraph reached by its service name. */
export const COMPOSE_SUPERGRAPH_FILE = path.join(ROOT, 'schema', 'supergraph.compose.graphql');
/** The partner contract (`@tag(name: "partner")`) as partners see it at `/partner/schema.graphql`. */
export const PARTNER_CONTRACT_FILE = path.join(ROOT, 'schema', 'partner.graphql');

/** Where the router reaches each subgraph in the embedded shop; containers override with their own file. */
export function defaultSubgraphUrl(port: number, host = 'localhost'): string {
  return `http://${host}:${port}/graphql`;
}

/** The composed supergraph SDL, or an error listing every composition problem. */
export function composeSupergraph(urls: (name: string, port: number) => string = (_n, p) => defaultSubgraphUrl(p)): string {
  const result = composeServices(
    SUBGRAPHS.map(({ name, port }) => ({
      name,
      url: urls(name, port),
      typeDefs: parse(fs.readFileSync(path.join(ROOT, 'subgraphs', name, 'schema.graphql'), 'utf8')),
    })),
  );
  if (result.errors) {
    throw new Error(`composition failed:\n${result.errors.map((e) => `  - ${e.message}`).join('\n')}`);
  }
  return result.supergraphSdl;
}

/** Both committed supergraphs and the partner contract, keyed by file. */
export function composeSupergraphFiles(): Map<string, string> {
  const supergraph = composeSupergraph();
  return new Map([
    [SUPERGRAPH_FILE, supergraph],
    [COMPOSE_SUPERGRAPH_FILE, composeSupergraph((name, port) => defaultSubgraphUrl(port, name))],
    [PARTNER_CONTRACT_FILE, `${printSchema(contractSchema(supergraph))}\n`],
  ]);
}

if (require.main === module) {
  try {
    for (const [file, sdl] of composeSupergraphFiles()) {
      fs.writeFileSync(file, sdl);
      process.stdout.write(`wrote ${path.relative(ROOT, file)}\n`);
    }
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
}
