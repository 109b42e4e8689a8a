/**
 * `npm run operations`: the trusted documents of the shop's own apps. Every `.graphql` file
 * under `schema/operations/<client>/` holds one named operation, or only fragments that the
 * operations of the same client spread. Each operation is validated against the graph's API
 * schema and written to `schema/operations/manifest.json` in Apollo's persisted query
 * manifest format; the router runs these documents by id (router/documents.ts). A test fails
 * when the committed manifest is stale or a document no longer validates.
 *
 * Bodies are normalised so that formatting and comments of the files do not change ids: the
 * operation, then the fragments it uses (directly or through other fragments) by name, each
 * printed by graphql-js `print`. The id is the SHA-256 hex of that body.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Supergraph } from '@apollo/federation-internals';
import {
  Kind,
  parse,
  print,
  validate,
  visit,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { CostCalculator } from '../router/cost';
import { SUPERGRAPH_FILE } from './compose';
import { documentId, type ManifestOperation, type PersistedQueryManifest } from './manifest';

const ROOT = path.resolve(__dirname, '..');
/** One folder per client (`mobile`, …) of `.graphql` files. */
export const OPERATIONS_DIR = path.join(ROOT, 'schema', 'operations');
export const MANIFEST_FILE = path.join(OPERATIONS_DIR, 'manifest.json');

/** The graph clients see: the supergraph without federation internals or `@inaccessible` parts. */
export function apiSchemaOf(supergraphSdl: string): GraphQLSchema {
  // The authorization features are marked `for: SECURITY`; they do not change the API schema.
  return Supergraph.build(supergraphSdl, { supportedFeatures: null }).apiSchema().toGraphQLJSSchema();
}

interface SourceFile {
  client: string;
  /** Relative to the repository, for messages. */
  file: string;
  document: DocumentNode;
}

/** Orders strings the same way on every machine, whatever its locale. */
const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The fragments an operation spreads, directly or through other fragments. */
function usedFragments(root: OperationDefinitionNode, fragments: ReadonlyMap<string, FragmentDefinitionNode>): FragmentDefinitionNode[] {
  const used = new Map<string, FragmentDefinitionNode>();
  const pending: Array<OperationDefinitionNode | FragmentDefinitionNode> = [root];
  while (pending.length > 0) {
    visit(pending.pop()!, {
      FragmentSpread(node) {
        const name = node.name.value;
        const fragment = fragments.get(name);
        if (fragment && !used.has(name)) {
          used.set(name, fragment);
          pending.push(fragment);
        }
      },
    });
  }
  return [...used.values()].sort((a, b) => byCodeUnits(a.name.value, b.name.value));
}

/** The `.graphql` files of every client folder, in a stable order. */
function readSources(dir: string): { sources: SourceFile[]; problems: string[] } {
  const sources: SourceFile[] = [];
  const problems: string[] = [];
  const clients = fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort() : [];
  for (const client of clients) {
    for (const name of fs.readdirSync(path.join(dir, client)).filter((f) => f.endsWith('.graphql')).sort()) {
      const full = path.join(dir, client, name);
      const file = path.relative(ROOT, full);
      try {
        sources.push({ client, file, document: parse(fs.readFileSync(full, 'utf8'), { noLocation: true }) });
      } catch (error) {
        problems.push(`${file}: ${(error as Error).message}`);
      }
    }
  }
  return { sources, problems };
}

/**
 * The manifest of every operation under `dir`, validated against the supergraph's API
 * schema; throws with every problem listed when a document is invalid.
 */
export function buildManifest(supergraphSdl = fs.readFileSync(SUPERGRAPH_FILE, 'utf8'), dir = OPERATIONS_DIR): PersistedQueryManifest {
  const schema = apiSchemaOf(supergraphSdl);
  const { sources, problems } = readSources(dir);
  const operations: ManifestOperation[] = [];
  const names = new Map<string, string>();
  for (const client of new Set(sources.map((s) => s.client))) {
    const files = sources.filter((s) => s.client === client);
    // Fragments are shared by the operations of one client; each name is defined once.
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const { file, document } of files) {
      for (const definition of document.definitions) {
        if (definition.kind !== Kind.FRAGMENT_DEFINITION) continue;
        if (fragments.has(definition.name.value)) problems.push(`${file}: fragment ${definition.name.value} is defined twice in ${client}/`);
        fragments.set(definition.name.value, definition);
      }
    }
    for (const { file, document } of files) {
      const ops = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
      const others = document.definitions.filter((d) => d.kind !== Kind.OPERATION_DEFINITION && d.kind !== Kind.FRAGMENT_DEFINITION);
      if (others.length > 0) problems.push(`${file}: only operations and fragments belong here`);
      if (ops.length === 0) continue;
      if (ops.length > 1) {
        problems.push(`${file}: holds ${ops.length} operations; put each in a file of its own`);
        continue;
      }
      const operation = ops[0]!;
      const name = operation.name?.value;
      if (!name) {
        problems.push(`${file}: the operation needs a name`);
        continue;
      }
      const seen = names.get(name);
      if (seen) problems.push(`${file}: operation name ${name} is already used by ${seen}`);
      names.set(name, file);
      const normalised: DocumentNode = { kind: Kind.DOCUMENT, definitions: [operation, ...usedFragments(operation, fragments)] };
      const errors = validate(schema, normalised);
      if (errors.length > 0) {
        problems.push(...errors.map((e) => `${file}: ${e.message}`));
        continue;
      }
      const body = print(normalised);
      operations.push({ id: documentId(body), name, type: operation.operation, body });
    }
  }
  if (problems.length > 0) throw new Error(`invalid operations:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  operations.sort((a, b) => byCodeUnits(a.name, b.name) || byCodeUnits(a.id, b.id));
  return { format: 'apollo-persisted-query-manifest', version: 1, operations };
}

/** The manifest as its file holds it. */
export function manifestText(manifest: PersistedQueryManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

if (require.main === module) {
  try {
    const manifest = buildManifest();
    fs.writeFileSync(MANIFEST_FILE, manifestText(manifest));
    // Priced as the router prices them, with the variables' defaults.
    const cost = new CostCalculator(fs.readFileSync(SUPERGRAPH_FILE, 'utf8'));
    for (const op of manifest.operations) {
      const estimated = cost.estimated(parse(op.body), {}, op.name);
      process.stdout.write(`${op.type.padEnd(12)} ${op.name.padEnd(20)} cost ${String(estimated).padStart(5)}  ${op.id}\n`);
    }
    process.stdout.write(`wrote ${path.relative(ROOT, MANIFEST_FILE)} (${manifest.operations.length} operations)\n`);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
}
