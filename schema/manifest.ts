/**
 * Apollo's persisted query manifest, as `npm run operations` writes it and the router reads
 * it: `{ format: "apollo-persisted-query-manifest", version: 1, operations: [{ id, name, type, body }] }`.
 */
import { createHash } from 'node:crypto';

/** One operation of the manifest. */
export interface ManifestOperation {
  /** SHA-256 hex of `body`. */
  id: string;
  name: string;
  type: 'query' | 'mutation' | 'subscription';
  body: string;
}

export interface PersistedQueryManifest {
  format: 'apollo-persisted-query-manifest';
  version: 1;
  operations: ManifestOperation[];
}

/** The id of a document body: its SHA-256 in hex, as APQ and the manifest use it. */
export function documentId(body: string): string {
  return createHash('sha256').update(body).digest('hex');
}

/** The manifest's operations by id; throws when the text is not a valid manifest. */
export function parseManifest(text: string): Map<string, ManifestOperation> {
  const manifest = JSON.parse(text) as { format?: unknown; version?: unknown; operations?: unknown };
  if (manifest.format !== 'apollo-persisted-query-manifest' || manifest.version !== 1 || !Array.isArray(manifest.operations)) {
    throw new Error('not an apollo-persisted-query-manifest of version 1');
  }
  const operations = new Map<string, ManifestOperation>();
  for (const [i, op] of (manifest.operations as Partial<ManifestOperation>[]).entries()) {
    if (typeof op?.id !== 'string' || typeof op.body !== 'string') throw new Error(`operations[${i}] needs a string id and body`);
    // A hand-edited body under its old id would run something other than what the id names.
    if (documentId(op.body) !== op.id) throw new Error(`operations[${i}] (${op.name}): id is not the SHA-256 of its body`);
    operations.set(op.id, { id: op.id, name: String(op.name), type: op.type as ManifestOperation['type'], body: op.body });
  }
  return operations;
}
