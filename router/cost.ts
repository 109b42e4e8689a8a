/**
 * Demand control: what an operation costs, before it runs (static cost) and after (actual
 * cost), from the `@cost` and `@listSize` hints of the IBM GraphQL Cost Directives spec as
 * the subgraphs declare them and composition carries them into the supergraph.
 *
 * The rules follow Apollo Router's demand control (`static_estimated` strategy):
 *
 * - An operation starts at 10 for a mutation, 0 for a query or subscription.
 * - A field costs its call, counted once: its own `@cost` weight plus the weights of the
 *   argument values given (an input object is 1 unless weighted, plus its given fields; a list
 *   is its own weight plus its items'), never below 0 (arguments may weigh less than 0);
 * - plus, for each instance it returns, its type's weight and the cost of its selection: an
 *   object is 1 unless its type has `@cost`, an interface or union the largest weight among
 *   its object types, a scalar or enum 0 unless its type has `@cost`.
 * - A list returns as many instances as its `@listSize` says: the largest slicing argument
 *   given (an integer, or a list's length; a default value counts when the argument is left
 *   out), else its `assumedSize`, else the default list size. `sizedFields` hands that size to
 *   the named list fields of the selection instead (`"edges"`, or `"results { page }"` deeper).
 * - Fragments count as often as they are spread, whatever their type condition (an upper
 *   bound); `@skip` and `@include` leave out what they exclude; `__typename` and introspection
 *   cost nothing.
 *
 * Actual cost applies the same weights to the response: every returned object, every item of
 * every returned list, and nothing below a null.
 */
import {
  Kind,
  parse,
  type ArgumentNode,
  type ConstDirectiveNode,
  type DefinitionNode,
  type DirectiveNode,
  type DocumentNode,
  type FieldDefinitionNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type InputValueDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type TypeNode,
  type ValueNode,
} from 'graphql';

/** Options of a CostCalculator. */
export interface CostOptions {
  /**
   * Instances assumed for a list field whose size nothing in the schema or the operation
   * gives (no slicing argument, no `assumedSize`). Default 10 (DEFAULT_LIST_SIZE).
   */
  defaultListSize?: number;
}

/**
 * Default of `CostOptions.defaultListSize`: the value of Apollo Router's documented
 * `list_size` example. Every list of the shop's graph carries its own hint, so it only prices
 * lists added without one.
 */
export const DEFAULT_LIST_SIZE = 10;

/** An operation the calculator cannot price: not valid against the graph, or a slicing argument missing. */
export class CostError extends Error {
  override readonly name = 'CostError';
}

/** JSON-shaped values: variables and response data. */
type Json = unknown;
type Variables = Readonly<Record<string, Json>>;

type TypeKind = 'object' | 'interface' | 'union' | 'scalar' | 'enum' | 'input';

/**
 * What of an operation's variables its cost depends on, as a key: the calculator reads them
 * only for their shape (which input fields and list items are given, null or not), the
 * numbers a slicing argument takes and the booleans of `@skip` and `@include`; the text of a
 * string never changes a cost. Variables that differ only in their strings (ids, idempotency
 * keys, addresses: most requests) share a key, so a cost computed once serves them all.
 */
export function costKey(variables: Variables | null | undefined): string {
  return variables ? shapeOf(variables) : '';
}

function shapeOf(value: Json): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return 's';
    case 'number':
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      let out = Array.isArray(value) ? '[' : '{';
      if (Array.isArray(value)) for (const item of value) out += `${shapeOf(item)},`;
      else for (const [name, inner] of Object.entries(value as Record<string, Json>)) out += `${JSON.stringify(name)}:${shapeOf(inner)},`;
      return out + (Array.isArray(value) ? ']' : '}');
    }
    default:
      // Absent: JSON has no other values.
      return 'u';
  }
}

interface TypeInfo {
  readonly name: string;
  readonly kind: TypeKind;
  /** Weight of one instance: `@cost` of the type, 1 for an object without; for an abstract type, the largest of its object types. */
  instanceWeight: number;
  /** Own `@cost` weight, when the type has one. */
  ownWeight: number | undefined;
  readonly fields: Map<string, FieldInfo>;
  readonly inputFields: Map<string, InputInfo>;
  /** Object types an interface or union stands for; the type itself for an object. */
  readonly possibleTypes: Set<string>;
  readonly interfaces: string[];
  readonly members: string[];
}

interface FieldInfo {
  readonly name: string;
  /** Named type at the bottom of the field's list and non-null wrappers. */
  readonly typeName: string;
  readonly isList: boolean;
  /** `@cost` on the field itself: the cost of one call. */
  readonly callWeight: number;
  readonly args: Map<string, InputInfo>;
  readonly listSize: ListSizeInfo | undefined;
}

interface InputInfo {
  readonly name: string;
  readonly typeName: string;
  /** `@cost` of the argument or input field; when absent, that of its scalar or enum type (filled in once all types are read). */
  weight: number | undefined;
  readonly defaultValue: ValueNode | undefined;
}

interface ListSizeInfo {
  readonly assumedSize: number | undefined;
  /** Each slicing argument as a path: the argument, then input fields within it. */
  readonly slicingArguments: readonly (readonly string[])[];
  readonly sizedFields: SizedFields | undefined;
  readonly requireOneSlicingArgument: boolean;
}

/** `sizedFields` as a tree: a leaf takes the size, a branch leads to deeper fields. */
interface SizedFields {
  readonly id: number;
  readonly children: Map<string, { leaf: boolean; below: SizedFields | undefined }>;
}

/** A `@listSize` with `sizedFields` in force over a selection: the size it hands down. */
interface Sizing {
  readonly size: number | undefined;
  readonly fields: SizedFields;
}

const BUILT_IN_SCALARS = ['Int', 'Float', 'String', 'Boolean', 'ID'];
const COST_SPEC = /^https:\/\/specs\.apollo\.dev\/cost\/v\d+\.\d+\/?$/;
const FEDERATION_SPEC = /^https:\/\/specs\.apollo\.dev\/federation\/v\d+\.\d+\/?$/;

/**
 * Prices operations against one graph. Build it once per supergraph: reading the schema's
 * types, directives and `@link` renames happens here; `estimated` and `actual` only walk the
 * operation. Both are pure, so a caller may cache `estimated` by document, operation name and
 * variables.
 */
export class CostCalculator {
  private readonly types = new Map<string, TypeInfo>();
  private readonly roots: Record<'query' | 'mutation' | 'subscription', string | undefined> = {
    query: undefined,
    mutation: undefined,
    subscription: undefined,
  };
  private readonly defaultListSize: number;
  private sizedFieldsIds = 0;
  /** Response pricers per document and `costKey` of variables: what they learn of an operation is kept for its next response. */
  private readonly walks = new WeakMap<DocumentNode, Map<string, ActualWalk>>();

  constructor(supergraphSdl: string | DocumentNode, options: CostOptions = {}) {
    const size = options.defaultListSize ?? DEFAULT_LIST_SIZE;
    if (!Number.isInteger(size) || size < 0) throw new RangeError(`defaultListSize must be a whole number ≥ 0, not ${size}`);
    this.defaultListSize = size;
    const schema = typeof supergraphSdl === 'string' ? parse(supergraphSdl, { noLocation: true }) : supergraphSdl;
    this.readSchema(schema);
  }

  /** The operation's estimated (static) cost before it runs: an upper bound from the schema's hints and the operation's arguments. */
  estimated(document: DocumentNode, variables?: Variables | null, operationName?: string | null): number {
    const operation = this.operation(document, operationName);
    const walk = new StaticWalk(this, document, this.effectiveVariables(operation, variables));
    const root = this.rootType(operation);
    return (operation.operation === 'mutation' ? 10 : 0) + walk.selectionSet(operation.selectionSet, root, [], new Set());
  }

  /** The operation's cost as it ran: the same weights over the data actually returned. */
  actual(document: DocumentNode, variables: Variables | null | undefined, operationName: string | null | undefined, data: Json): number {
    const operation = this.operation(document, operationName);
    const walk = this.actualWalk(document, this.effectiveVariables(operation, variables));
    const root = this.rootType(operation);
    const base = operation.operation === 'mutation' ? 10 : 0;
    if (!isObject(data)) return base;
    return base + walk.object(walk.root(operation, root.name), root, data);
  }

  private actualWalk(document: DocumentNode, variables: Variables): ActualWalk {
    let byVariables = this.walks.get(document);
    if (!byVariables) {
      byVariables = new Map();
      this.walks.set(document, byVariables);
    }
    const key = costKey(variables);
    let walk = byVariables.get(key);
    if (!walk) {
      // One document sent with ever new variables keeps a bounded number of pricers.
      if (byVariables.size >= ACTUAL_WALKS_PER_DOCUMENT) byVariables.delete(byVariables.keys().next().value!);
      walk = new ActualWalk(this, document, variables);
      byVariables.set(key, walk);
    }
    return walk;
  }

  /** @internal */
  type(name: string): TypeInfo {
    const type = this.types.get(name);
    if (!type) throw new CostError(`type ${name} is not in the graph`);
    return type;
  }

  /** @internal Instances a list field returns, and the sizings its selection inherits. */
  sizing(
    field: FieldInfo,
    node: FieldNode,
    inherited: readonly Sizing[],
    variables: Variables,
  ): { count: number; below: Sizing[] } {
    // A size handed down by an enclosing field's sizedFields comes first; then this field's own
    // @listSize, or one reaching deeper through it; then the default.
    let fromParent: number | undefined;
    const own = field.listSize ? this.expectedSize(field, field.listSize, node, variables) : undefined;
    let expected = own;
    const below: Sizing[] = [];
    for (const sizing of inherited) {
      const entry = sizing.fields.children.get(field.name);
      if (!entry || sizing.size === undefined) continue;
      if (entry.leaf) fromParent = Math.max(fromParent ?? 0, sizing.size);
      if (entry.below) {
        below.push({ size: sizing.size, fields: entry.below });
        expected = Math.max(expected ?? 0, sizing.size);
      }
    }
    if (field.listSize?.sizedFields) below.push({ size: own, fields: field.listSize.sizedFields });
    return { count: field.isList ? (fromParent ?? expected ?? this.defaultListSize) : 1, below };
  }

  /** @internal Cost of the given argument values of one field call (before the floor at 0). */
  argumentsCost(field: FieldInfo, node: FieldNode, variables: Variables): number {
    let cost = 0;
    for (const argument of node.arguments ?? []) {
      const definition = field.args.get(argument.name.value);
      if (!definition) throw new CostError(`argument ${field.name}(${argument.name.value}:) is not in the graph`);
      cost += this.literalCost(argument.value, definition, variables);
    }
    return cost;
  }

  private expectedSize(field: FieldInfo, listSize: ListSizeInfo, node: FieldNode, variables: Variables): number | undefined {
    let found = 0;
    let largest: number | undefined;
    for (const path of listSize.slicingArguments) {
      const [argumentName, ...inner] = path as [string, ...string[]];
      const given = node.arguments?.find((argument) => argument.name.value === argumentName);
      let size = given ? sizeAt(valueToJson(given.value, variables), inner) : undefined;
      // Left out, or given as a null variable: the argument's default applies.
      if (size === undefined) {
        const definition = field.args.get(argumentName);
        size = definition?.defaultValue ? sizeAt(valueToJson(definition.defaultValue, {}), inner) : undefined;
      }
      if (size === undefined) continue;
      found += 1;
      largest = Math.max(largest ?? 0, size);
    }
    if (listSize.slicingArguments.length > 0 && listSize.requireOneSlicingArgument && found !== 1) {
      throw new CostError(`${field.name} needs exactly one of its slicing arguments (${listSize.slicingArguments.map((p) => p.join('.')).join(', ')}), found ${found}`);
    }
    return largest ?? listSize.assumedSize;
  }

  private literalCost(value: ValueNode, definition: InputInfo, variables: Variables): number {
    switch (value.kind) {
      case Kind.VARIABLE: {
        const json = variables[value.name.value];
        return json === undefined ? 0 : this.jsonInputCost(json, definition);
      }
      case Kind.NULL:
        return 0;
      case Kind.LIST:
        return value.values.reduce((sum, item) => sum + this.literalCost(item, definition, variables), definition.weight ?? 0);
      case Kind.OBJECT: {
        const type = this.types.get(definition.typeName);
        if (type?.kind !== 'input') return definition.weight ?? 0;
        let cost = definition.weight ?? 1;
        for (const field of value.fields) {
          const inner = type.inputFields.get(field.name.value);
          if (!inner) throw new CostError(`input field ${type.name}.${field.name.value} is not in the graph`);
          cost += this.literalCost(field.value, inner, variables);
        }
        return cost;
      }
      default:
        return definition.weight ?? 0;
    }
  }

  /** Variables are not validated yet when the guard runs: what the graph does not know costs nothing here and fails later. */
  private jsonInputCost(value: Json, definition: InputInfo): number {
    if (value === null) return 0;
    if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + this.jsonInputCost(item, definition), definition.weight ?? 0);
    if (isObject(value)) {
      const type = this.types.get(definition.typeName);
      if (type?.kind !== 'input') return definition.weight ?? 0;
      let cost = definition.weight ?? 1;
      for (const [name, inner] of Object.entries(value)) {
        const field = type.inputFields.get(name);
        if (field) cost += this.jsonInputCost(inner, field);
      }
      return cost;
    }
    return definition.weight ?? 0;
  }

  private operation(document: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode {
    const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    const operation = operationName
      ? operations.find((o) => o.name?.value === operationName)
      : operations.length === 1
        ? operations[0]
        : undefined;
    if (!operation) {
      throw new CostError(operationName ? `no operation named ${operationName}` : 'the document must hold exactly one operation, or an operation name must be given');
    }
    return operation;
  }

  private rootType(operation: OperationDefinitionNode): TypeInfo {
    const name = this.roots[operation.operation];
    if (!name) throw new CostError(`the graph has no ${operation.operation} type`);
    return this.type(name);
  }

  /** The variables as the operation sees them: those sent, and the defaults of those left out. */
  private effectiveVariables(operation: OperationDefinitionNode, variables: Variables | null | undefined): Variables {
    const given = variables ?? {};
    const defaults = operation.variableDefinitions?.filter((d) => d.defaultValue && given[d.variable.name.value] === undefined);
    if (!defaults?.length) return given;
    const merged: Record<string, Json> = { ...given };
    for (const definition of defaults) merged[definition.variable.name.value] = valueToJson(definition.defaultValue!, {});
    return merged;
  }

  private readSchema(schema: DocumentNode): void {
    const { cost, listSize } = directiveNames(schema.definitions);
    for (const scalar of BUILT_IN_SCALARS) this.types.set(scalar, newType(scalar, 'scalar'));
    const weightOf = (directives: readonly ConstDirectiveNode[] | undefined): number | undefined => {
      const directive = directives?.find((d) => cost.has(d.name.value));
      const weight = directive?.arguments?.find((a) => a.name.value === 'weight')?.value;
      if (!weight) return undefined;
      const number = Number(valueToJson(weight, {}));
      if (!Number.isFinite(number)) throw new CostError(`@cost weight ${JSON.stringify(valueToJson(weight, {}))} is not a number`);
      return number;
    };
    const inputInfo = (value: InputValueDefinitionNode): InputInfo => ({
      name: value.name.value,
      typeName: namedType(value.type),
      weight: weightOf(value.directives),
      defaultValue: value.defaultValue,
    });
    const fieldInfo = (field: FieldDefinitionNode, parent: string): FieldInfo => ({
      name: field.name.value,
      typeName: namedType(field.type),
      isList: isListType(field.type),
      callWeight: weightOf(field.directives) ?? 0,
      args: new Map((field.arguments ?? []).map((a) => [a.name.value, inputInfo(a)])),
      listSize: this.listSizeOf(field.directives?.find((d) => listSize.has(d.name.value)), `${parent}.${field.name.value}`),
    });
    const typeOf = (name: string, kind: TypeKind): TypeInfo => {
      let type = this.types.get(name);
      if (!type) this.types.set(name, (type = newType(name, kind)));
      return type;
    };

    for (const definition of schema.definitions) {
      switch (definition.kind) {
        case Kind.SCHEMA_DEFINITION:
        case Kind.SCHEMA_EXTENSION:
          for (const root of definition.operationTypes ?? []) this.roots[root.operation] = root.type.name.value;
          break;
        case Kind.OBJECT_TYPE_DEFINITION:
        case Kind.OBJECT_TYPE_EXTENSION:
        case Kind.INTERFACE_TYPE_DEFINITION:
        case Kind.INTERFACE_TYPE_EXTENSION: {
          const isObject = definition.kind === Kind.OBJECT_TYPE_DEFINITION || definition.kind === Kind.OBJECT_TYPE_EXTENSION;
          const type = typeOf(definition.name.value, isObject ? 'object' : 'interface');
          type.ownWeight = weightOf(definition.directives) ?? type.ownWeight;
          for (const field of definition.fields ?? []) type.fields.set(field.name.value, fieldInfo(field, type.name));
          for (const implemented of definition.interfaces ?? []) type.interfaces.push(implemented.name.value);
          break;
        }
        case Kind.UNION_TYPE_DEFINITION:
        case Kind.UNION_TYPE_EXTENSION: {
          const type = typeOf(definition.name.value, 'union');
          for (const member of definition.types ?? []) type.members.push(member.name.value);
          break;
        }
        case Kind.SCALAR_TYPE_DEFINITION:
        case Kind.SCALAR_TYPE_EXTENSION:
        case Kind.ENUM_TYPE_DEFINITION:
        case Kind.ENUM_TYPE_EXTENSION: {
          const isScalar = definition.kind === Kind.SCALAR_TYPE_DEFINITION || definition.kind === Kind.SCALAR_TYPE_EXTENSION;
          const type = typeOf(definition.name.value, isScalar ? 'scalar' : 'enum');
          type.ownWeight = weightOf(definition.directives) ?? type.ownWeight;
          break;
        }
        case Kind.INPUT_OBJECT_TYPE_DEFINITION:
        case Kind.INPUT_OBJECT_TYPE_EXTENSION: {
          const type = typeOf(definition.name.value, 'input');
          for (const field of definition.fields ?? []) type.inputFields.set(field.name.value, inputInfo(field));
          break;
        }
        default:
          break;
      }
    }
    this.roots.query ??= this.types.has('Query') ? 'Query' : undefined;
    this.roots.mutation ??= this.types.has('Mutation') ? 'Mutation' : undefined;
    this.roots.subscription ??= this.types.has('Subscription') ? 'Subscription' : undefined;

    // Possible types, then the weight of one instance of each type.
    for (const type of this.types.values()) {
      if (type.kind !== 'object') continue;
      type.possibleTypes.add(type.name);
      for (const name of type.interfaces) this.types.get(name)?.possibleTypes.add(type.name);
    }
    for (const type of this.types.values()) {
      if (type.kind === 'union') for (const name of type.members) type.possibleTypes.add(name);
    }
    for (const type of this.types.values()) {
      switch (type.kind) {
        case 'object':
          type.instanceWeight = Math.max(0, type.ownWeight ?? 1);
          break;
        case 'scalar':
        case 'enum':
          type.instanceWeight = Math.max(0, type.ownWeight ?? 0);
          break;
        default:
          break;
      }
    }
    for (const type of this.types.values()) {
      if (type.kind !== 'interface' && type.kind !== 'union') continue;
      let weight = type.possibleTypes.size === 0 ? 1 : 0;
      for (const name of type.possibleTypes) weight = Math.max(weight, this.types.get(name)?.instanceWeight ?? 1);
      type.instanceWeight = weight;
    }
    // An argument or input field without its own weight weighs what its scalar or enum type does.
    const inheritWeight = (input: InputInfo) => {
      const type = this.types.get(input.typeName);
      if (input.weight === undefined && (type?.kind === 'scalar' || type?.kind === 'enum')) input.weight = type.ownWeight;
    };
    for (const type of this.types.values()) {
      for (const field of type.fields.values()) field.args.forEach(inheritWeight);
      type.inputFields.forEach(inheritWeight);
    }
  }

  private listSizeOf(directive: ConstDirectiveNode | undefined, where: string): ListSizeInfo | undefined {
    if (!directive) return undefined;
    const argument = (name: string) => {
      const value = directive.arguments?.find((a) => a.name.value === name)?.value;
      return value ? valueToJson(value, {}) : undefined;
    };
    const strings = (name: string) => {
      const value = argument(name);
      return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
    };
    const assumedSize = argument('assumedSize');
    const sizedFields = strings('sizedFields');
    return {
      assumedSize: typeof assumedSize === 'number' ? Math.max(0, assumedSize) : undefined,
      slicingArguments: strings('slicingArguments').map((path) => path.split('.')),
      sizedFields: sizedFields.length ? this.parseSizedFields(sizedFields, where) : undefined,
      requireOneSlicingArgument: argument('requireOneSlicingArgument') !== false,
    };
  }

  /** `["edges", "results { page }"]` → a tree whose leaves are the sized fields. */
  private parseSizedFields(paths: readonly string[], where: string): SizedFields {
    const root: SizedFields = { id: this.sizedFieldsIds++, children: new Map() };
    for (const path of paths) {
      const tokens = path.match(/[A-Za-z_][A-Za-z0-9_]*|[{}]/g) ?? [];
      let node = root;
      const stack: SizedFields[] = [];
      let last: string | undefined;
      for (const token of tokens) {
        if (token === '{') {
          if (!last) throw new CostError(`sizedFields "${path}" of ${where} is not a field path`);
          const entry = node.children.get(last)!;
          entry.leaf = false;
          entry.below ??= { id: this.sizedFieldsIds++, children: new Map() };
          stack.push(node);
          node = entry.below;
          last = undefined;
        } else if (token === '}') {
          const up = stack.pop();
          if (!up) throw new CostError(`sizedFields "${path}" of ${where} has an unmatched "}"`);
          node = up;
          last = undefined;
        } else {
          const entry = node.children.get(token);
          if (entry) entry.leaf ||= !entry.below;
          else node.children.set(token, { leaf: true, below: undefined });
          last = token;
        }
      }
      if (stack.length) throw new CostError(`sizedFields "${path}" of ${where} has an unmatched "{"`);
    }
    return root;
  }
}

/** Prices an operation before it runs: every selection, every fragment spread, as often as it appears. */
class StaticWalk {
  private readonly fragments = new Map<string, FragmentDefinitionNode>();
  /** Fragment costs by fragment and the sizing in force, so nested spreads cost linear time, not exponential. */
  private readonly fragmentCosts = new Map<string, number>();

  constructor(
    private readonly calculator: CostCalculator,
    document: DocumentNode,
    private readonly variables: Variables,
  ) {
    for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) this.fragments.set(d.name.value, d);
  }

  selectionSet(selectionSet: SelectionSetNode, parent: TypeInfo, sizings: readonly Sizing[], spreading: Set<string>): number {
    let cost = 0;
    for (const selection of selectionSet.selections) {
      if (excluded(selection.directives, this.variables)) continue;
      switch (selection.kind) {
        case Kind.FIELD:
          cost += this.field(selection, parent, sizings, spreading);
          break;
        case Kind.INLINE_FRAGMENT: {
          const type = selection.typeCondition ? this.calculator.type(selection.typeCondition.name.value) : parent;
          cost += this.selectionSet(selection.selectionSet, type, sizings, spreading);
          break;
        }
        case Kind.FRAGMENT_SPREAD:
          cost += this.spread(selection.name.value, sizings, spreading);
          break;
      }
    }
    return cost;
  }

  private spread(name: string, sizings: readonly Sizing[], spreading: Set<string>): number {
    const key = `${name}\u0000${sizings.map((s) => `${s.fields.id}:${s.size}`).join(',')}`;
    const known = this.fragmentCosts.get(key);
    if (known !== undefined) return known;
    const fragment = this.fragments.get(name);
    if (!fragment) throw new CostError(`fragment ${name} is not defined`);
    if (spreading.has(name)) throw new CostError(`fragment ${name} spreads itself`);
    spreading.add(name);
    const cost = this.selectionSet(fragment.selectionSet, this.calculator.type(fragment.typeCondition.name.value), sizings, spreading);
    spreading.delete(name);
    this.fragmentCosts.set(key, cost);
    return cost;
  }

  private field(node: FieldNode, parent: TypeInfo, sizings: readonly Sizing[], spreading: Set<string>): number {
    if (node.name.value.startsWith('__')) return 0;
    const field = parent.fields.get(node.name.value);
    if (!field) throw new CostError(`field ${parent.name}.${node.name.value} is not in the graph`);
    const type = this.calculator.type(field.typeName);
    const call = Math.max(0, field.callWeight + this.calculator.argumentsCost(field, node, this.variables));
    const { count, below } = this.calculator.sizing(field, node, sizings, this.variables);
    if (count === 0) return call;
    const selection = node.selectionSet ? this.selectionSet(node.selectionSet, type, below, spreading) : 0;
    return call + count * (type.instanceWeight + selection);
  }
}

/** A selection set to apply to a response object, with the type it was written against. */
interface Selections {
  readonly selectionSet: SelectionSetNode;
  readonly typeName: string;
}

/** Prices a response: fields merged by response key as execution merges them, each returned instance counted. */
/** Variable shapes (`costKey`) whose response pricers are kept per document. */
const ACTUAL_WALKS_PER_DOCUMENT = 64;

/** One place in the operation: the selections made there, and what they come to per type met. */
interface Position {
  selections: readonly Selections[];
  /** Response keys of `__typename` selected here, in the order a reader meets them. */
  typenameKeys?: string[];
  /** The priced fields by the object's type and `__typename`. */
  byType: Map<string, PricedField[]>;
}

interface PricedField {
  key: string;
  /** The field's own cost: its weight and its arguments'. */
  call: number;
  type: TypeInfo;
  below: Position;
}

/**
 * Prices a response. The fields each place of the operation selects are collected and
 * priced once per type they are met on; walking a response then only adds up.
 */
class ActualWalk {
  private readonly fragments = new Map<string, FragmentDefinitionNode>();
  private readonly roots = new Map<string, Position>();

  constructor(
    private readonly calculator: CostCalculator,
    document: DocumentNode,
    private readonly variables: Variables,
  ) {
    for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) this.fragments.set(d.name.value, d);
  }

  /** The place of an operation's root selection set. */
  root(operation: OperationDefinitionNode, typeName: string): Position {
    const key = `${operation.name?.value ?? ''}\0${typeName}`;
    let position = this.roots.get(key);
    if (!position) {
      position = { selections: [{ selectionSet: operation.selectionSet, typeName }], byType: new Map() };
      this.roots.set(key, position);
    }
    return position;
  }

  /** Cost of the fields selected on one returned object (not of the object itself). */
  object(position: Position, type: TypeInfo, value: Record<string, Json>): number {
    const typename = this.typename(position, value);
    const fields = this.fields(position, type, typename);
    let cost = 0;
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]!;
      if (!(field.key in value)) continue;
      cost += field.call + this.value(field.below, field.type, value[field.key]);
    }
    return cost;
  }

  private fields(position: Position, type: TypeInfo, typename: string | undefined): PricedField[] {
    const memo = `${type.name}\0${typename ?? ''}`;
    let fields = position.byType.get(memo);
    if (fields) return fields;
    const grouped = new Map<string, { node: FieldNode; parent: string }[]>();
    for (const { selectionSet, typeName } of position.selections) this.collect(selectionSet, typeName, type, typename, grouped, new Set());
    fields = [];
    for (const [key, nodes] of grouped) {
      const first = nodes[0]!;
      if (first.node.name.value.startsWith('__')) continue;
      const field = this.calculator.type(first.parent).fields.get(first.node.name.value);
      if (!field) throw new CostError(`field ${first.parent}.${first.node.name.value} is not in the graph`);
      const call = Math.max(0, field.callWeight + this.calculator.argumentsCost(field, first.node, this.variables));
      const below = nodes.flatMap(({ node }) => (node.selectionSet ? [{ selectionSet: node.selectionSet, typeName: field.typeName }] : []));
      fields.push({ key, call, type: this.calculator.type(field.typeName), below: { selections: below, byType: new Map() } });
    }
    position.byType.set(memo, fields);
    return fields;
  }

  private value(position: Position, type: TypeInfo, value: Json): number {
    if (value === null || value === undefined) return 0;
    if (Array.isArray(value)) {
      let sum = 0;
      for (const item of value) sum += this.value(position, type, item);
      return sum;
    }
    if (!isObject(value)) return type.instanceWeight;
    const concrete = this.concreteType(position, type, value);
    return concrete.instanceWeight + this.object(position, concrete, value);
  }

  /** The object's own type when known (an object type, or `__typename` in the response); else the abstract type, an upper bound. */
  private concreteType(position: Position, type: TypeInfo, value: Record<string, Json>): TypeInfo {
    if (type.kind === 'object') return type;
    const typename = this.typename(position, value);
    return typename && type.possibleTypes.has(typename) ? this.calculator.type(typename) : type;
  }

  private typename(position: Position, value: Record<string, Json>): string | undefined {
    position.typenameKeys ??= this.typenameKeys(position.selections);
    for (const key of position.typenameKeys) {
      const found = value[key];
      if (typeof found === 'string') return found;
    }
    return undefined;
  }

  private typenameKeys(selections: readonly Selections[]): string[] {
    const keys: string[] = [];
    const find = (selectionSet: SelectionSetNode, seen: Set<string>): void => {
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) {
          if (selection.name.value === '__typename') keys.push(selection.alias?.value ?? '__typename');
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          find(selection.selectionSet, seen);
        } else if (!seen.has(selection.name.value)) {
          seen.add(selection.name.value);
          const fragment = this.fragments.get(selection.name.value);
          if (fragment) find(fragment.selectionSet, seen);
        }
      }
    };
    for (const { selectionSet } of selections) find(selectionSet, new Set());
    return keys;
  }

  private collect(
    selectionSet: SelectionSetNode,
    parent: string,
    type: TypeInfo,
    typename: string | undefined,
    grouped: Map<string, { node: FieldNode; parent: string }[]>,
    visited: Set<string>,
  ): void {
    for (const selection of selectionSet.selections) {
      if (excluded(selection.directives, this.variables)) continue;
      switch (selection.kind) {
        case Kind.FIELD: {
          const key = selection.alias?.value ?? selection.name.value;
          const group = grouped.get(key);
          if (group) group.push({ node: selection, parent });
          else grouped.set(key, [{ node: selection, parent }]);
          break;
        }
        case Kind.INLINE_FRAGMENT: {
          const condition = selection.typeCondition?.name.value ?? parent;
          if (this.applies(condition, type, typename)) this.collect(selection.selectionSet, condition, type, typename, grouped, visited);
          break;
        }
        case Kind.FRAGMENT_SPREAD: {
          const name = selection.name.value;
          if (visited.has(name)) break;
          visited.add(name);
          const fragment = this.fragments.get(name);
          if (!fragment) throw new CostError(`fragment ${name} is not defined`);
          const condition = fragment.typeCondition.name.value;
          if (this.applies(condition, type, typename)) this.collect(fragment.selectionSet, condition, type, typename, grouped, visited);
          break;
        }
      }
    }
  }

  /** Whether a fragment on `condition` applies to an object of `type` (`typename` when the response says). */
  private applies(condition: string, type: TypeInfo, typename: string | undefined): boolean {
    const concrete = type.kind === 'object' ? type.name : typename;
    if (concrete === undefined) return true;
    return concrete === condition || this.calculator.type(condition).possibleTypes.has(concrete);
  }
}

function newType(name: string, kind: TypeKind): TypeInfo {
  return {
    name,
    kind,
    instanceWeight: kind === 'object' ? 1 : 0,
    ownWeight: undefined,
    fields: new Map(),
    inputFields: new Map(),
    possibleTypes: new Set(),
    interfaces: [],
    members: [],
  };
}

/**
 * The local names of `@cost` and `@listSize`: as the cost spec's `@link` (which composition
 * writes into a supergraph) or the federation `@link` (a subgraph's) imports or prefixes them,
 * and the bare names in a schema that links neither.
 */
function directiveNames(definitions: readonly DefinitionNode[]): { cost: Set<string>; listSize: Set<string> } {
  const cost = new Set<string>();
  const listSize = new Set<string>();
  let linked = false;
  for (const definition of definitions) {
    if (definition.kind !== Kind.SCHEMA_DEFINITION && definition.kind !== Kind.SCHEMA_EXTENSION) continue;
    for (const link of definition.directives ?? []) {
      if (link.name.value !== 'link') continue;
      const args = Object.fromEntries((link.arguments ?? []).map((a) => [a.name.value, valueToJson(a.value, {})]));
      const url = typeof args.url === 'string' ? args.url : '';
      const isCost = COST_SPEC.test(url);
      if (!isCost && !FEDERATION_SPEC.test(url)) continue;
      linked = true;
      const namespace = typeof args.as === 'string' ? args.as : isCost ? 'cost' : 'federation';
      const imports = new Map<string, string>();
      for (const item of Array.isArray(args.import) ? args.import : []) {
        if (typeof item === 'string') imports.set(item.replace(/^@/, ''), item.replace(/^@/, ''));
        else if (isObject(item) && typeof item.name === 'string') {
          const name = item.name.replace(/^@/, '');
          imports.set(name, typeof item.as === 'string' ? item.as.replace(/^@/, '') : name);
        }
      }
      // A spec's directive named like the spec (`@cost` of the cost spec) goes by the namespace itself.
      cost.add(imports.get('cost') ?? (isCost ? namespace : `${namespace}__cost`));
      listSize.add(imports.get('listSize') ?? `${namespace}__listSize`);
    }
  }
  if (!linked) {
    cost.add('cost');
    listSize.add('listSize');
  }
  return { cost, listSize };
}

function namedType(type: TypeNode): string {
  return type.kind === Kind.NAMED_TYPE ? type.name.value : namedType(type.type);
}

function isListType(type: TypeNode): boolean {
  return type.kind === Kind.LIST_TYPE || (type.kind === Kind.NON_NULL_TYPE && isListType(type.type));
}

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A GraphQL value as JSON, variables substituted (an unknown variable reads as absent). */
function valueToJson(value: ValueNode, variables: Variables): Json {
  switch (value.kind) {
    case Kind.VARIABLE:
      return variables[value.name.value];
    case Kind.INT:
    case Kind.FLOAT:
      return Number(value.value);
    case Kind.STRING:
    case Kind.ENUM:
      return value.value;
    case Kind.BOOLEAN:
      return value.value;
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return value.values.map((item) => valueToJson(item, variables));
    case Kind.OBJECT:
      return Object.fromEntries(value.fields.map((field) => [field.name.value, valueToJson(field.value, variables)]));
  }
}

/** The size a slicing argument gives: an integer (below 0 counts as 0) or a list's length, at `path` inside the value. */
function sizeAt(value: Json, path: readonly string[]): number | undefined {
  let current = value;
  for (const step of path) {
    if (!isObject(current)) return undefined;
    current = current[step];
  }
  if (typeof current === 'number' && Number.isInteger(current)) return Math.max(0, current);
  if (Array.isArray(current)) return current.length;
  return undefined;
}

/** Whether `@skip` or `@include` leaves the selection out, with the operation's variables. */
function excluded(directives: readonly DirectiveNode[] | undefined, variables: Variables): boolean {
  if (!directives?.length) return false;
  for (const directive of directives) {
    const name = directive.name.value;
    if (name !== 'skip' && name !== 'include') continue;
    const condition = directive.arguments?.find((a: ArgumentNode) => a.name.value === 'if');
    const value = condition ? valueToJson(condition.value, variables) : undefined;
    if (typeof value !== 'boolean') continue;
    if (name === 'skip' ? value : !value) return true;
  }
  return false;
}
