import { ERRORS } from '@apollo/federation-internals';
import {
  GraphQLError,
  Kind,
  getNullableType,
  isAbstractType,
  isCompositeType,
  isEnumType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  isSpecifiedScalarType,
  type DirectiveNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLOutputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionNode,
} from 'graphql';

/**
 * The response of one operation, cut out of the data its query plan gathered: only the
 * fields the operation asked for, in its order, with its aliases; nulls bubbled up to the
 * nearest nullable field; leaf values checked against their types; `__typename` answered
 * for every type, root types included. The rules are the federation gateway's (see
 * `computeResponse` in @apollo/gateway), so a response is the one stock Apollo sends.
 *
 * The work that depends on the operation alone is done once: `compileShape` turns the
 * operation into a tree of field lists per runtime type, built the first time each is met
 * and kept with the plan. Shaping a response then walks the data once with no selection
 * logic left, and allocates only the output.
 */

type Path = (string | number)[];

/** Checks a leaf value as the gateway does (`isValidLeafValue`): custom scalars take anything. */
type LeafCheck = (value: unknown) => boolean;

interface LeafShape {
  kind: 'leaf';
  nonNull: boolean;
  /** The nullable type, printed (error messages). */
  name: string;
  check: LeafCheck;
}

interface ListShape {
  kind: 'list';
  nonNull: boolean;
  name: string;
  of: Shape;
}

interface CompositeShape {
  kind: 'composite';
  nonNull: boolean;
  name: string;
  type: GraphQLCompositeType;
  /** Every selection the operation makes on values of this position (merged over fields with one response name). */
  selections: readonly SelectionNode[];
  /** Field lists by runtime type name, built when first needed. */
  byType: Map<string, FieldPlan[]>;
}

type Shape = LeafShape | ListShape | CompositeShape;

interface FieldPlan {
  responseName: string;
  kind: 'value' | 'typename' | 'introspection';
  /** The type the field was selected on (the innermost fragment's condition): messages and `__typename` fallback. */
  parentType: GraphQLCompositeType;
  /** For values. */
  shape?: Shape;
  /** For introspection (`__schema`, `__type`): answered by the caller. */
  node?: FieldNode;
  /** The response name is also an `Object.prototype` property: read and write it as an own property only. */
  guarded: boolean;
}

/** What the operation selects at the root, for one set of `@skip`/`@include` values. */
export interface ResponseShape {
  root: CompositeShape;
  compiler: ShapeCompiler;
}

/** Null in a non-null position: the parent becomes null too. */
const INVALID = Symbol('invalid');
/** Null whose error is already reported: no "cannot return null" error on top of it. */
const ERRORED = Symbol('errored');

const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

function leafCheck(schema: GraphQLSchema, type: GraphQLOutputType): LeafCheck {
  const booleanType = schema.getType('Boolean');
  const intType = schema.getType('Int');
  const floatType = schema.getType('Float');
  const idType = schema.getType('ID');
  if (isEnumType(type)) {
    const values = new Set(type.getValues().map((v) => v.name));
    return (value) => typeof value === 'string' && values.has(value);
  }
  if (!isSpecifiedScalarType(type as never)) return () => true;
  if (type === booleanType) return (value) => typeof value === 'boolean';
  if (type === intType || type === idType) {
    const acceptsStrings = type === idType;
    return (value) =>
      typeof value === 'number' ? Number.isFinite(value) && INTEGER.test(String(value)) : acceptsStrings && typeof value === 'string';
  }
  if (type === floatType) return (value) => typeof value === 'number' && Number.isFinite(value);
  // String.
  return (value) => typeof value === 'string';
}

const PROTOTYPE_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype));

function responseNameOf(node: FieldNode): string {
  return node.alias?.value ?? node.name.value;
}

/** Builds field lists for one operation and one set of `@skip`/`@include` values. */
export class ShapeCompiler {
  private readonly fragments = new Map<string, FragmentDefinitionNode>();

  constructor(
    readonly schema: GraphQLSchema,
    readonly operation: OperationDefinitionNode,
    fragments: readonly FragmentDefinitionNode[],
    /** The value of every variable a `@skip`/`@include` of the operation reads. */
    private readonly conditions: ReadonlyMap<string, boolean>,
  ) {
    for (const fragment of fragments) this.fragments.set(fragment.name.value, fragment);
  }

  root(): CompositeShape {
    const type = this.schema.getRootType(this.operation.operation);
    if (!type) throw new GraphQLError(`The schema has no ${this.operation.operation} type.`);
    return { kind: 'composite', nonNull: true, name: type.name, type, selections: this.operation.selectionSet.selections, byType: new Map() };
  }

  /** The fields of `shape` for values of `runtime`, built the first time. */
  fieldsFor(shape: CompositeShape, runtime: GraphQLCompositeType): FieldPlan[] {
    let fields = shape.byType.get(runtime.name);
    if (!fields) {
      fields = this.buildFields(shape.selections, runtime);
      shape.byType.set(runtime.name, fields);
    }
    return fields;
  }

  private included(directives: readonly DirectiveNode[] | undefined): boolean {
    if (!directives || directives.length === 0) return true;
    for (const directive of directives) {
      const name = directive.name.value;
      if (name !== 'skip' && name !== 'include') continue;
      const arg = directive.arguments?.find((a) => a.name.value === 'if');
      if (!arg) continue;
      let value: boolean;
      if (arg.value.kind === Kind.BOOLEAN) value = arg.value.value;
      else if (arg.value.kind === Kind.VARIABLE) value = this.conditions.get(arg.value.name.value) ?? false;
      else continue;
      if (name === 'skip' ? value : !value) return false;
    }
    return true;
  }

  private applies(condition: GraphQLCompositeType | undefined, runtime: GraphQLCompositeType): boolean {
    if (!condition || condition === runtime) return true;
    return isAbstractType(condition) && (isObjectType(runtime) || isInterfaceType(runtime)) && this.schema.isSubType(condition, runtime);
  }

  private conditionType(name: string | undefined): GraphQLCompositeType | undefined {
    if (!name) return undefined;
    const type = this.schema.getType(name);
    return type && isCompositeType(type) ? type : undefined;
  }

  private collect(
    selections: readonly SelectionNode[],
    runtime: GraphQLCompositeType,
    parentType: GraphQLCompositeType,
    into: Map<string, { nodes: FieldNode[]; parentType: GraphQLCompositeType }>,
    visited: Set<string>,
  ): void {
    for (const selection of selections) {
      if (!this.included(selection.directives)) continue;
      switch (selection.kind) {
        case Kind.FIELD: {
          const key = responseNameOf(selection);
          const entry = into.get(key);
          if (entry) entry.nodes.push(selection);
          else into.set(key, { nodes: [selection], parentType });
          break;
        }
        case Kind.INLINE_FRAGMENT: {
          const condition = this.conditionType(selection.typeCondition?.name.value);
          if (this.applies(condition, runtime)) this.collect(selection.selectionSet.selections, runtime, condition ?? parentType, into, visited);
          break;
        }
        case Kind.FRAGMENT_SPREAD: {
          const name = selection.name.value;
          if (visited.has(name)) break;
          visited.add(name);
          const fragment = this.fragments.get(name);
          if (!fragment) break;
          const condition = this.conditionType(fragment.typeCondition.name.value);
          if (this.applies(condition, runtime)) this.collect(fragment.selectionSet.selections, runtime, condition ?? parentType, into, visited);
          break;
        }
      }
    }
  }

  private buildFields(selections: readonly SelectionNode[], runtime: GraphQLCompositeType): FieldPlan[] {
    const collected = new Map<string, { nodes: FieldNode[]; parentType: GraphQLCompositeType }>();
    this.collect(selections, runtime, runtime, collected, new Set());
    const plans: FieldPlan[] = [];
    for (const [responseName, { nodes, parentType }] of collected) {
      const guarded = PROTOTYPE_NAMES.has(responseName);
      const fieldName = nodes[0]!.name.value;
      if (fieldName === '__typename') {
        plans.push({ responseName, kind: 'typename', parentType, guarded });
        continue;
      }
      if (fieldName === '__schema' || fieldName === '__type') {
        plans.push({ responseName, kind: 'introspection', parentType, node: nodes[0]!, guarded });
        continue;
      }
      const definition = fieldDefinition(runtime, fieldName) ?? fieldDefinition(parentType, fieldName);
      // Validation guarantees the field exists; a selection the schema cannot place is left out.
      if (!definition) continue;
      const subSelections: SelectionNode[] = [];
      for (const node of nodes) if (node.selectionSet) subSelections.push(...node.selectionSet.selections);
      plans.push({ responseName, kind: 'value', parentType, shape: this.shapeOf(definition.type, subSelections), guarded });
    }
    return plans;
  }

  private shapeOf(type: GraphQLOutputType, selections: readonly SelectionNode[]): Shape {
    const nonNull = isNonNullType(type);
    const nullable = getNullableType(type);
    const name = String(nullable);
    if (isListType(nullable)) return { kind: 'list', nonNull, name, of: this.shapeOf(nullable.ofType, selections) };
    if (isCompositeType(nullable)) return { kind: 'composite', nonNull, name, type: nullable, selections, byType: new Map() };
    return { kind: 'leaf', nonNull, name, check: leafCheck(this.schema, nullable) };
  }
}

function fieldDefinition(type: GraphQLCompositeType, name: string): GraphQLField<unknown, unknown> | undefined {
  return isObjectType(type) || isInterfaceType(type) ? type.getFields()[name] : undefined;
}

/** What shaping needs beyond the data: answers to introspection, and where errors go. */
export interface ShapeRun {
  introspect(node: FieldNode): unknown;
  errors: GraphQLError[];
}

function describe(path: Path, typeName: string, parentType: GraphQLCompositeType): string {
  const element = path[path.length - 1];
  return typeof element === 'string' ? `field ${parentType.name}.${element}` : `array element of type ${typeName} at index ${element}`;
}

/**
 * The operation's response from the data its plan gathered. `data` is null when a null
 * reached the root. Errors of value completion are collected in `errors`.
 */
export function shapeResponse(shape: ResponseShape, input: Record<string, unknown>, run: ShapeRun): Record<string, unknown> | null {
  const walker = new Walker(shape.compiler, run);
  const output = walker.object(input, shape.compiler.fieldsFor(shape.root, shape.root.type), []);
  return output === null ? null : output;
}

class Walker {
  constructor(
    private readonly compiler: ShapeCompiler,
    private readonly run: ShapeRun,
  ) {}

  /** The object's output, or null when a null bubbles up to it. */
  object(input: Record<string, unknown>, fields: FieldPlan[], path: Path): Record<string, unknown> | null {
    const output: Record<string, unknown> = {};
    for (let i = 0; i < fields.length; i++) {
      const field = fields[i]!;
      const name = field.responseName;
      let value: unknown;
      if (field.kind === 'value') {
        value = field.guarded ? (Object.hasOwn(input, name) ? input[name] : undefined) : input[name];
        path.push(name);
        value = this.complete(field.shape!, value, path, field.parentType);
        path.pop();
        if (value === INVALID) return null;
        if (value === ERRORED) value = null;
      } else if (field.kind === 'typename') {
        let typename = Object.hasOwn(input, name) ? input[name] : undefined;
        if (typename == null && name !== '__typename') typename = input.__typename;
        const type = typeof typename === 'string' ? (this.compiler.schema.getType(typename) ?? field.parentType) : field.parentType;
        // An interface name (from an @interfaceObject subgraph whose follow-up fetch failed) is no answer.
        if (!isObjectType(type)) return null;
        value = type.name;
      } else {
        value = this.run.introspect(field.node!);
      }
      if (field.guarded) Object.defineProperty(output, name, { value, enumerable: true, writable: true, configurable: true });
      else output[name] = value;
    }
    return output;
  }

  private error(message: string, path: Path): void {
    this.run.errors.push(ERRORS.INVALID_GRAPHQL.err(message, { path: path.slice() }));
  }

  private complete(shape: Shape, value: unknown, path: Path, parentType: GraphQLCompositeType): unknown {
    let result: unknown;
    if (value === null || value === undefined) {
      result = null;
    } else if (shape.kind === 'leaf') {
      if (shape.check(value)) {
        result = value;
      } else {
        this.error(`Invalid value found for ${describe(path, shape.name, parentType)}.`, path);
        result = ERRORED;
      }
    } else if (shape.kind === 'list') {
      if (!Array.isArray(value)) throw new GraphQLError(`Invalid non-list value ${String(value)} returned by subgraph for list type ${shape.name}`);
      const output = new Array<unknown>(value.length);
      let nullify = false;
      for (let i = 0; i < value.length; i++) {
        path.push(i);
        const element = this.complete(shape.of, value[i], path, parentType);
        path.pop();
        if (element === INVALID) nullify = true;
        output[i] = element === ERRORED || element === INVALID ? null : element;
      }
      result = nullify ? ERRORED : output;
    } else {
      if (typeof value !== 'object') throw new GraphQLError(`Invalid non-object value ${String(value)} returned by subgraph for composite type ${shape.name}`);
      const input = value as Record<string, unknown>;
      const typename = input.__typename;
      let runtime: GraphQLCompositeType = shape.type;
      let valid = true;
      if (typename !== undefined && typeof typename !== 'string') {
        throw new GraphQLError(`Invalid non-string value ${String(typename)} for __typename at ${path.join('.')}`);
      }
      if (typename) {
        const named = this.compiler.schema.getType(typename);
        if (named && isCompositeType(named)) {
          runtime = named;
        } else {
          // Not in the API schema (an @inaccessible implementation, say): the name is not told.
          this.error(`Invalid __typename found for object at ${describe(path, shape.name, parentType)}.`, path);
          valid = false;
        }
      }
      if (valid) {
        const output = this.object(input, this.compiler.fieldsFor(shape, runtime), path);
        result = output === null ? ERRORED : output;
      } else {
        result = ERRORED;
      }
    }
    if (shape.nonNull) {
      if (result === null) {
        this.error(`Cannot return null for non-nullable ${describe(path, shape.name, parentType)}.`, path);
        return INVALID;
      }
      if (result === ERRORED) return INVALID;
    }
    return result;
  }
}
