/**
 * Operation limits: how deep, how wide and how decorated an operation may be, measured
 * on the operation as it would execute (every fragment spread expanded where it is
 * spread), so neither a fragment used a thousand times nor a fragment cycle hides
 * anything. Pure functions over the parsed document; the guard (router/edge.ts) calls
 * them after validation and before planning, so a refused operation costs no subgraph
 * request.
 */
import { Kind, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import { ShopError, type ErrorCode } from '../platform/errors';

/** What the limits are measured on. */
export interface OperationMeasure {
  /** Deepest field nesting; the operation's root fields are depth 1. Introspection fields are not counted. */
  depth: number;
  /** Aliased fields, each time it would execute. */
  aliases: number;
  /** Fields selected on the root type, fragments included. */
  rootFields: number;
  /** Directives used in the operation, each time it would execute (the operation's own included). */
  directives: number;
}

/** The largest value of each measure an operation may have; defaults in DEFAULT_OPERATION_LIMITS. */
export interface OperationLimits {
  depth: number;
  aliases: number;
  rootFields: number;
  directives: number;
  /** Lexical tokens in the whole document; enforced by the parser (see `tokenCount`). */
  tokens: number;
}

export const DEFAULT_OPERATION_LIMITS: OperationLimits = { depth: 15, aliases: 30, rootFields: 20, directives: 50, tokens: 5000 };

/** What one selection set adds up to when expanded. */
interface Tally {
  depth: number;
  aliases: number;
  directives: number;
}

/**
 * Measures `operation` with its fragments expanded. Each fragment is measured once and
 * its tally added wherever it is spread, so measuring is linear in the document's size
 * however often a fragment is spread. A fragment that spreads itself (validation refuses
 * those first) counts as empty on the second visit.
 */
export function measureOperation(document: DocumentNode, operation: OperationDefinitionNode): OperationMeasure {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const measured = new Map<string, Tally>();
  const visiting = new Set<string>();

  const fragmentTally = (name: string): Tally => {
    const known = measured.get(name);
    if (known) return known;
    const fragment = fragments.get(name);
    if (!fragment || visiting.has(name)) return { depth: 0, aliases: 0, directives: 0 };
    visiting.add(name);
    const tally = selectionTally(fragment.selectionSet);
    visiting.delete(name);
    measured.set(name, tally);
    return tally;
  };

  const selectionTally = (selectionSet: SelectionSetNode): Tally => {
    const total: Tally = { depth: 0, aliases: 0, directives: 0 };
    for (const selection of selectionSet.selections) {
      total.directives += selection.directives?.length ?? 0;
      if (selection.kind === Kind.FIELD) {
        if (selection.alias) total.aliases += 1;
        // Introspection (`__schema`, `__type`) is as deep as the type system, not the data.
        const introspection = selection.name.value.startsWith('__');
        const child = selection.selectionSet ? selectionTally(selection.selectionSet) : { depth: 0, aliases: 0, directives: 0 };
        total.aliases += child.aliases;
        total.directives += child.directives;
        if (!introspection) total.depth = Math.max(total.depth, 1 + child.depth);
      } else {
        const inner = selection.kind === Kind.INLINE_FRAGMENT ? selectionTally(selection.selectionSet) : fragmentTally(selection.name.value);
        total.aliases += inner.aliases;
        total.directives += inner.directives;
        total.depth = Math.max(total.depth, inner.depth);
      }
    }
    return total;
  };

  const rootFields = (selectionSet: SelectionSetNode, seen: Set<string>): number => {
    let count = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) count += 1;
      else if (selection.kind === Kind.INLINE_FRAGMENT) count += rootFields(selection.selectionSet, seen);
      else if (!seen.has(selection.name.value)) {
        const fragment = fragments.get(selection.name.value);
        if (fragment) count += rootFields(fragment.selectionSet, new Set(seen).add(selection.name.value));
      }
    }
    return count;
  };

  const tally = selectionTally(operation.selectionSet);
  return {
    depth: tally.depth,
    aliases: tally.aliases,
    rootFields: rootFields(operation.selectionSet, new Set()),
    directives: tally.directives + (operation.directives?.length ?? 0),
  };
}

const CHECKS: { measure: keyof OperationMeasure; code: ErrorCode; what: string }[] = [
  { measure: 'depth', code: 'MAX_DEPTH_LIMIT', what: 'deep' },
  { measure: 'aliases', code: 'MAX_ALIASES_LIMIT', what: 'aliases' },
  { measure: 'rootFields', code: 'MAX_ROOT_FIELDS_LIMIT', what: 'root fields' },
  { measure: 'directives', code: 'MAX_DIRECTIVES_LIMIT', what: 'directives' },
];

/** The first limit `measure` exceeds, as the error the client gets; null when it is within every limit. */
export function limitExceeded(measure: OperationMeasure, limits: OperationLimits): ShopError | null {
  for (const { measure: name, code, what } of CHECKS) {
    const limit = limits[name];
    const measured = measure[name];
    if (measured > limit) {
      const message =
        name === 'depth'
          ? `The operation is ${measured} levels deep; at most ${limit} are allowed.`
          : `The operation has ${measured} ${what}; at most ${limit} are allowed.`;
      return new ShopError(code, message, { limit, measured, http: { status: 400 } });
    }
  }
  return null;
}

/** The error for a document over the token limit, with the tokens counted by `tokenCount`. */
export function tokenLimitExceeded(limit: number, measured: number): ShopError {
  return new ShopError('MAX_TOKENS_LIMIT', `The document has ${measured} tokens; at most ${limit} are allowed.`, {
    limit,
    measured,
    http: { status: 400 },
  });
}
