/**
 * Authorization in the graph: fields and types that need a signed-in caller or a scope
 * say so in their subgraph schema (`@authenticated`, `@requiresScopes`), and the router
 * removes every field the caller may not see from the operation before it is planned,
 * so no subgraph is asked for it. After execution each removed field comes back null,
 * the null propagating to the nearest nullable parent, with an error at its path:
 * UNAUTHENTICATED without a valid token, FORBIDDEN without the scope. Subgraphs keep
 * their own checks (ownership, defence in depth).
 */
import {
  getNamedType,
  isAbstractType,
  isCompositeType,
  isListType,
  isNonNullType,
  Kind,
  parse,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLFormattedError,
  type GraphQLOutputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import type { ErrorCode } from '../platform/errors';

/** What seeing one field takes: a verified token, and one of the listed sets of scopes (when listed). */
export interface Requirement {
  authenticated: boolean;
  /** Any one inner list suffices; every scope of it is needed. Null: no scope needed. */
  scopes: readonly (readonly string[])[] | null;
}

/** Who is asking, as far as authorization goes. */
export interface Caller {
  authenticated: boolean;
  scopes: readonly string[];
}

/** A field removed from the operation, and what its caller is told. */
export interface Denial {
  code: Extract<ErrorCode, 'UNAUTHENTICATED' | 'FORBIDDEN'>;
  message: string;
}

const DENIED: Record<Denial['code'], string> = {
  UNAUTHENTICATED: 'Sign in to see this field.',
  FORBIDDEN: 'You may not see this field.',
};

/**
 * The authorization rules of a supergraph, read once from its SDL: the `@authenticated`
 * and `@requiresScopes` on fields, and on the types they return.
 */
export class AuthPolicy {
  private readonly fieldRules = new Map<string, Requirement[]>();
  private readonly typeRules = new Map<string, Requirement[]>();

  constructor(supergraphSdl: string) {
    const document = parse(supergraphSdl, { noLocation: true });
    for (const definition of document.definitions) {
      if (
        definition.kind !== Kind.OBJECT_TYPE_DEFINITION &&
        definition.kind !== Kind.INTERFACE_TYPE_DEFINITION &&
        definition.kind !== Kind.OBJECT_TYPE_EXTENSION &&
        definition.kind !== Kind.INTERFACE_TYPE_EXTENSION &&
        definition.kind !== Kind.SCALAR_TYPE_DEFINITION &&
        definition.kind !== Kind.ENUM_TYPE_DEFINITION
      ) {
        continue;
      }
      const typeName = definition.name.value;
      const own = requirementsOf(definition.directives);
      if (own.length) this.typeRules.set(typeName, [...(this.typeRules.get(typeName) ?? []), ...own]);
      if (!('fields' in definition) || !definition.fields) continue;
      for (const field of definition.fields) {
        const rules = requirementsOf(field.directives);
        if (rules.length) this.fieldRules.set(`${typeName}.${field.name.value}`, rules);
      }
    }
  }

  /** Whether the graph has any rule at all (a graph without one needs no filtering). */
  get empty(): boolean {
    return this.fieldRules.size === 0 && this.typeRules.size === 0;
  }

  /** Every requirement of `parent.field`, returning `returnType`: the field's own and its type's. */
  requirements(parent: string, field: string, returnType: string): readonly Requirement[] {
    const own = this.fieldRules.get(`${parent}.${field}`);
    const ofType = this.typeRules.get(returnType);
    if (!own) return ofType ?? NONE;
    return ofType ? [...own, ...ofType] : own;
  }
}

const NONE: readonly Requirement[] = [];

function requirementsOf(directives: readonly { name: { value: string }; arguments?: readonly { name: { value: string }; value: ValueNode }[] }[] | undefined): Requirement[] {
  const found: Requirement[] = [];
  for (const directive of directives ?? []) {
    if (directive.name.value === 'authenticated') found.push({ authenticated: true, scopes: null });
    if (directive.name.value === 'requiresScopes') {
      const argument = directive.arguments?.find((a) => a.name.value === 'scopes');
      found.push({ authenticated: true, scopes: argument ? scopeSets(argument.value) : [] });
    }
  }
  return found;
}

function scopeSets(value: ValueNode): string[][] {
  if (value.kind !== Kind.LIST) return [];
  return value.values.map((inner) =>
    inner.kind === Kind.LIST ? inner.values.flatMap((v) => (v.kind === Kind.STRING ? [v.value] : [])) : inner.kind === Kind.STRING ? [inner.value] : [],
  );
}

/** Why `caller` may not see a field with these requirements; null when they may. */
export function denialFor(requirements: readonly Requirement[], caller: Caller): Denial | null {
  for (const requirement of requirements) {
    if (requirement.authenticated && !caller.authenticated) return { code: 'UNAUTHENTICATED', message: DENIED.UNAUTHENTICATED };
    if (requirement.scopes && !requirement.scopes.some((set) => set.every((scope) => caller.scopes.includes(scope)))) {
      return { code: 'FORBIDDEN', message: DENIED.FORBIDDEN };
    }
  }
  return null;
}

/** Where removed fields were, mirroring the operation's selections by response key. */
export interface RemovalTree {
  children: Map<string, RemovalNode>;
}

interface RemovalNode extends RemovalTree {
  /** Set when the field itself was removed. */
  denial?: Denial;
  /** Whether the field's type is non-null (a null there propagates to the parent). */
  nonNull: boolean;
  /** The field's type, to walk lists in the response. */
  type: GraphQLOutputType;
  /** Only objects of this type (by `__typename`) had the field removed; null: all. */
  onType: string | null;
}

export interface FilteredOperation {
  /** The document to plan: the original when nothing was removed. */
  document: DocumentNode;
  /** What was removed, for `restoreRemoved`; null when nothing was. */
  removed: RemovalTree | null;
  /** Every root field was removed: there is nothing left to execute. */
  nothingLeft: boolean;
  /** A string that differs between filtered shapes of one operation (plan cache keys). */
  signature: string;
}

const TYPENAME: FieldNode = { kind: Kind.FIELD, name: { kind: Kind.NAME, value: '__typename' } };
const INJECTED_TYPENAME = '__typename';

/**
 * Removes from `operation` every field `caller` may not see under `policy`. Fragment
 * spreads are inlined in the filtered document (a fragment may be spread where the caller
 * sees all of it and where they do not); a selection set left empty selects `__typename`.
 */
export function filterOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  policy: AuthPolicy,
  caller: Caller,
): FilteredOperation {
  const unchanged = { document, removed: null, nothingLeft: false, signature: '' };
  if (policy.empty) return unchanged;
  const rootType = schema.getRootType(operation.operation);
  if (!rootType) return unchanged;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const denials: string[] = [];

  const filterSet = (selectionSet: SelectionSetNode, parent: GraphQLCompositeType, tree: RemovalTree, onType: string | null): SelectionNode[] => {
    const kept: SelectionNode[] = [];
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (name.startsWith('__') || !('getFields' in parent)) {
          kept.push(selection);
          continue;
        }
        const definition = parent.getFields()[name];
        if (!definition) {
          kept.push(selection);
          continue;
        }
        const key = selection.alias?.value ?? name;
        const named = getNamedType(definition.type);
        const denial = denialFor(policy.requirements(parent.name, name, named.name), caller);
        let node = tree.children.get(key);
        if (!node) {
          node = { children: new Map(), nonNull: isNonNullType(definition.type), type: definition.type, onType };
          tree.children.set(key, node);
        }
        if (denial) {
          node.denial = denial;
          denials.push(`${parent.name}.${name}:${denial.code}`);
          continue;
        }
        if (selection.selectionSet && isCompositeType(named)) {
          const inner = filterSet(selection.selectionSet, named, node, null);
          kept.push({ ...selection, selectionSet: { ...selection.selectionSet, selections: inner.length ? inner : [TYPENAME] } });
          if (!inner.length) node.children.set(INJECTED_TYPENAME, { children: new Map(), nonNull: false, type: definition.type, onType: null });
        } else {
          kept.push(selection);
        }
        continue;
      }
      const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : fragments.get(selection.name.value);
      if (!fragment) continue;
      const condition = fragment.typeCondition ? schema.getType(fragment.typeCondition.name.value) : parent;
      if (!condition || !isCompositeType(condition)) continue;
      // Under an abstract parent, a fragment on one of its types removes fields only from objects of that type.
      const narrower = isAbstractType(parent) && condition.name !== parent.name ? condition.name : onType;
      const inner = filterSet(fragment.selectionSet, condition, tree, narrower);
      if (inner.length) {
        kept.push({
          kind: Kind.INLINE_FRAGMENT,
          ...(fragment.typeCondition ? { typeCondition: fragment.typeCondition } : {}),
          directives: selection.directives ?? [],
          selectionSet: { kind: Kind.SELECTION_SET, selections: inner },
        });
      }
    }
    return kept;
  };

  const removed: RemovalTree = { children: new Map() };
  const selections = filterSet(operation.selectionSet, rootType, removed, null);
  if (denials.length === 0) return unchanged;
  prune(removed);
  const filtered: OperationDefinitionNode = { ...operation, selectionSet: { ...operation.selectionSet, selections: selections.length ? selections : [TYPENAME] } };
  return {
    // Fragments are inlined, so only the operation remains.
    document: { kind: Kind.DOCUMENT, definitions: [filtered] },
    removed,
    nothingLeft: selections.length === 0,
    signature: denials.join(','),
  };
}

/** Drops the branches of the tree that hold no removal, so restoring walks only what it must. */
function prune(tree: RemovalTree): boolean {
  for (const [key, node] of tree.children) {
    const keep = prune(node) || node.denial !== undefined || key === INJECTED_TYPENAME;
    if (!keep) tree.children.delete(key);
  }
  return tree.children.size > 0;
}

/** Most errors reported for one removed field (a list of a thousand items names the first ones). */
const MAX_ERRORS_PER_FIELD = 20;

/**
 * Puts the removed fields back into `data` as nulls, propagating each null that lands on a
 * non-null field to the nearest nullable parent, and returns the errors to report: one at
 * each path where a removed field would have been (or, where no data reached it, one at
 * the field's path without list indexes). `data` null stays null.
 */
export function restoreRemoved(data: Record<string, unknown> | null | undefined, removed: RemovalTree): {
  data: Record<string, unknown> | null;
  errors: GraphQLFormattedError[];
} {
  const errors: GraphQLFormattedError[] = [];
  const reported = new Map<RemovalNode, number>();

  const report = (node: RemovalNode, path: (string | number)[]) => {
    const count = reported.get(node) ?? 0;
    reported.set(node, count + 1);
    if (count < MAX_ERRORS_PER_FIELD) errors.push({ message: node.denial!.message, path, extensions: { code: node.denial!.code } });
  };

  /** Restores into one object; true when the object itself must become null. */
  const restoreObject = (object: Record<string, unknown>, tree: RemovalTree, path: (string | number)[]): boolean => {
    let nullSelf = false;
    for (const [key, node] of tree.children) {
      if (key === INJECTED_TYPENAME && node.children.size === 0 && !node.denial) {
        delete object[key];
        continue;
      }
      if (node.onType && typeof object.__typename === 'string' && object.__typename !== node.onType) continue;
      if (node.denial) {
        object[key] = null;
        report(node, [...path, key]);
        if (node.nonNull) nullSelf = true;
        continue;
      }
      if (node.children.size === 0 || !(key in object)) continue;
      if (restoreValue(object, key, node.type, node, [...path, key])) {
        object[key] = null;
        if (node.nonNull) nullSelf = true;
      }
    }
    return nullSelf;
  };

  /** Restores below `holder[key]` of `type`; true when that value must become null. */
  const restoreValue = (holder: Record<string, unknown> | unknown[], key: string | number, type: GraphQLOutputType, node: RemovalNode, path: (string | number)[]): boolean => {
    const value = (holder as Record<string | number, unknown>)[key];
    if (value === null || value === undefined) return false;
    const inner = isNonNullType(type) ? type.ofType : type;
    if (isListType(inner)) {
      const items = value as unknown[];
      const itemType = inner.ofType as GraphQLOutputType;
      for (let index = 0; index < items.length; index++) {
        if (restoreValue(items, index, itemType, node, [...path, index])) {
          items[index] = null;
          if (isNonNullType(itemType)) return true;
        }
      }
      return false;
    }
    return restoreObject(value as Record<string, unknown>, node, path);
  };

  let result: Record<string, unknown> | null = data ?? null;
  if (result && restoreObject(result, removed, [])) result = null;

  // A removed field that no data reached is still reported once, at its path without indexes.
  const unreported = (tree: RemovalTree, path: string[]) => {
    for (const [key, node] of tree.children) {
      if (node.denial && !reported.has(node)) {
        errors.push({ message: node.denial.message, path: [...path, key], extensions: { code: node.denial.code } });
      }
      unreported(node, [...path, key]);
    }
  };
  unreported(removed, []);
  return { data: result, errors };
}
