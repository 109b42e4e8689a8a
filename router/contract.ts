/**
 * Contracts: the part of the graph one audience may use, chosen by `@tag` in the subgraph
 * schemas and cut out of the supergraph. The partner endpoint serves the `partner` contract.
 *
 * The rule is the plainest one that cannot leak: an element is in the contract only when it
 * carries the tag itself. Types, fields, arguments, enum values and input fields alike; a
 * tag on a type does not bring its fields along, so a field another subgraph adds to a
 * tagged type (`Product.stockLevels`) stays out until someone tags it. What the tags leave
 * inconsistent is an error when the contract is built, every problem listed together:
 * a tagged field, argument or input field whose type is not tagged, a required argument or
 * input field left out of a tagged one, a tagged type left with nothing in it. Built-in
 * scalars need no tag. An `@inaccessible` element is never in a contract.
 */
import {
  buildASTSchema,
  Kind,
  parse,
  type ConstDirectiveNode,
  type DefinitionNode,
  type DocumentNode,
  type FieldDefinitionNode,
  type GraphQLSchema,
  type InputValueDefinitionNode,
  type NamedTypeNode,
  type OperationTypeDefinitionNode,
  type TypeDefinitionNode,
  type TypeNode,
} from 'graphql';

/** The tag of the partner contract, as the subgraph schemas write it: `@tag(name: "partner")`. */
export const PARTNER_TAG = 'partner';

const BUILT_IN_SCALARS = new Set(['String', 'Int', 'Float', 'Boolean', 'ID']);

/** Tags that make no consistent contract; the message lists every problem. */
export class ContractError extends Error {
  override readonly name = 'ContractError';
  constructor(
    readonly tag: string,
    readonly problems: string[],
  ) {
    super(`the "${tag}" contract is inconsistent:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

function tagged(directives: readonly ConstDirectiveNode[] | undefined, tag: string): boolean {
  if (directives?.some((d) => d.name.value === 'inaccessible')) return false;
  return (
    directives?.some(
      (d) =>
        d.name.value === 'tag' &&
        d.arguments?.some((a) => a.name.value === 'name' && a.value.kind === Kind.STRING && a.value.value === tag),
    ) ?? false
  );
}

function namedType(type: TypeNode): string {
  return type.kind === Kind.NAMED_TYPE ? type.name.value : namedType(type.type);
}

/**
 * The contract's SDL as a document: the supergraph's definitions that carry `tag`, with only
 * their tagged members, and no directives (the federation machinery, cost hints and auth
 * marks are the router's business, not the audience's). Descriptions stay.
 */
export function contractDocument(supergraphSdl: string | DocumentNode, tag: string = PARTNER_TAG): DocumentNode {
  const supergraph = typeof supergraphSdl === 'string' ? parse(supergraphSdl, { noLocation: true }) : supergraphSdl;
  const types = new Map<string, TypeDefinitionNode>();
  let roots: readonly OperationTypeDefinitionNode[] | undefined;
  for (const definition of supergraph.definitions) {
    if (definition.kind === Kind.SCHEMA_DEFINITION) roots = definition.operationTypes;
    else if ('name' in definition && definition.kind !== Kind.DIRECTIVE_DEFINITION && definition.name) {
      types.set(definition.name.value, definition as TypeDefinitionNode);
    }
  }
  const included = new Set([...types.values()].filter((t) => tagged(t.directives, tag)).map((t) => t.name.value));
  const problems: string[] = [];
  const requireType = (type: TypeNode, where: string) => {
    const name = namedType(type);
    if (!BUILT_IN_SCALARS.has(name) && !included.has(name)) problems.push(`${where} is tagged but its type ${name} is not`);
  };
  const inputValues = (values: readonly InputValueDefinitionNode[] | undefined, where: string): InputValueDefinitionNode[] => {
    const kept: InputValueDefinitionNode[] = [];
    for (const value of values ?? []) {
      const at = `${where}.${value.name.value}`;
      if (tagged(value.directives, tag)) {
        requireType(value.type, at);
        kept.push({ ...value, directives: [] });
      } else if (value.type.kind === Kind.NON_NULL_TYPE && !value.defaultValue) {
        problems.push(`${at} is required but not tagged`);
      }
    }
    return kept;
  };
  const fields = (list: readonly FieldDefinitionNode[] | undefined, typeName: string): FieldDefinitionNode[] =>
    (list ?? [])
      .filter((field) => tagged(field.directives, tag))
      .map((field) => {
        requireType(field.type, `${typeName}.${field.name.value}`);
        return { ...field, arguments: inputValues(field.arguments, `${typeName}.${field.name.value}`), directives: [] };
      });
  const members = (list: readonly NamedTypeNode[] | undefined) => (list ?? []).filter((t) => included.has(t.name.value));

  const definitions: DefinitionNode[] = [];
  for (const name of included) {
    const type = types.get(name)!;
    const empty = (what: string) => problems.push(`${name} is tagged but none of its ${what} is`);
    switch (type.kind) {
      case Kind.OBJECT_TYPE_DEFINITION:
      case Kind.INTERFACE_TYPE_DEFINITION: {
        const kept = fields(type.fields, name);
        if (kept.length === 0) empty('fields');
        definitions.push({ ...type, directives: [], fields: kept, interfaces: members(type.interfaces) } as TypeDefinitionNode);
        break;
      }
      case Kind.INPUT_OBJECT_TYPE_DEFINITION: {
        const kept = inputValues(type.fields, name);
        if (kept.length === 0) empty('fields');
        definitions.push({ ...type, directives: [], fields: kept });
        break;
      }
      case Kind.ENUM_TYPE_DEFINITION: {
        const kept = (type.values ?? []).filter((v) => tagged(v.directives, tag)).map((v) => ({ ...v, directives: [] }));
        if (kept.length === 0) empty('values');
        definitions.push({ ...type, directives: [], values: kept });
        break;
      }
      case Kind.UNION_TYPE_DEFINITION: {
        const kept = members(type.types);
        if (kept.length === 0) empty('member types');
        definitions.push({ ...type, directives: [], types: kept });
        break;
      }
      case Kind.SCALAR_TYPE_DEFINITION:
        definitions.push({ ...type, directives: [] });
        break;
    }
  }
  const operationTypes = (roots ?? []).filter((root) => included.has(root.type.name.value));
  if (!operationTypes.some((root) => root.operation === 'query')) problems.push('no query type is tagged');
  if (problems.length) throw new ContractError(tag, problems);
  return { kind: Kind.DOCUMENT, definitions: [{ kind: Kind.SCHEMA_DEFINITION, operationTypes }, ...definitions] };
}

/** The contract as a schema to validate and introspect against. */
export function contractSchema(supergraphSdl: string | DocumentNode, tag: string = PARTNER_TAG): GraphQLSchema {
  return buildASTSchema(contractDocument(supergraphSdl, tag));
}
