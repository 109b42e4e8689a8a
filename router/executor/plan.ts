import { ERRORS, errorCodeDef } from '@apollo/federation-internals';
import type { FetchDataRewrite, FetchNode, PlanNode, QueryPlanSelectionNode, ResponsePath } from '@apollo/query-planner';
import {
  GraphQLError,
  isAbstractType,
  isInterfaceType,
  isObjectType,
  type GraphQLErrorOptions,
  type GraphQLSchema,
  type VariableDefinitionNode,
  valueFromAST,
  typeFromAST,
} from 'graphql';
import type { RouterContext } from '../context';
import type { SubgraphClient, SubgraphResponse } from './subgraph-client';

/**
 * Runs a query plan: Apollo's planner decides what to ask which subgraph; this module asks
 * it. Every plan is compiled once (fetch bodies' fixed parts, the functions that pick an
 * entity's representation, rewrites) and then run per request over one in-memory result,
 * into which each subgraph's answer is merged in place.
 */

type Data = Record<string, unknown>;

/** A plan step, ready to run. */
export type Step =
  | { kind: 'sequence'; steps: Step[] }
  | { kind: 'parallel'; steps: Step[] }
  | { kind: 'flatten'; path: ResponsePath; step: Step }
  | { kind: 'fetch'; fetch: CompiledFetch }
  | { kind: 'condition'; variable: string; ifStep?: Step; elseStep?: Step };

export interface CompiledFetch {
  service: string;
  /** `{"query":…,"operationName":…,"variables":` */
  prefix: string;
  variableUsages: readonly string[];
  /** The entity's representation, or null when the entity is not one this fetch is for. */
  represent?: (entity: Data) => Data | null;
  /**
   * The representation written straight as JSON, for the usual `requires` (fields of the
   * entity's own, on object types): no object built, no generic serialisation. Absent when
   * the fetch needs `represent` (nested selections, abstract conditions, input rewrites).
   */
  representJson?: (entity: Data) => string | null;
  inputRewrites?: (value: Data) => void;
  outputRewrites?: (value: Data) => void;
  /** A query: identical ones in flight may share one request. */
  shareable: boolean;
}

/** One run of a plan: its result so far, its errors, and what it needs to send requests. */
export interface PlanRun {
  data: Data;
  errors: GraphQLError[];
  variables: Record<string, unknown>;
  /** The operation's variable definitions (defaults of conditions). */
  variableDefinitions: readonly VariableDefinitionNode[];
  client: SubgraphClient;
  context: Partial<RouterContext> | undefined;
  schema: GraphQLSchema;
}

interface Cursor {
  path: ResponsePath;
  data: Data | Data[];
}

// --- compiling ---------------------------------------------------------------------------

/** Compiles a plan node; `supergraph` is the schema rewrites and type conditions are checked against. */
export function compileStep(node: PlanNode, supergraph: GraphQLSchema): Step {
  switch (node.kind) {
    case 'Sequence':
      return { kind: 'sequence', steps: node.nodes.map((n) => compileStep(n, supergraph)) };
    case 'Parallel':
      return { kind: 'parallel', steps: node.nodes.map((n) => compileStep(n, supergraph)) };
    case 'Flatten':
      return { kind: 'flatten', path: node.path, step: compileStep(node.node, supergraph) };
    case 'Fetch':
      return { kind: 'fetch', fetch: compileFetch(node, supergraph) };
    case 'Condition':
      return {
        kind: 'condition',
        variable: node.condition,
        ...(node.ifClause ? { ifStep: compileStep(node.ifClause, supergraph) } : {}),
        ...(node.elseClause ? { elseStep: compileStep(node.elseClause, supergraph) } : {}),
      };
    case 'Defer':
      throw new GraphQLError('@defer is not supported by this router.', { extensions: { code: 'BAD_REQUEST' } });
  }
}

export function compileFetch(node: FetchNode, supergraph: GraphQLSchema): CompiledFetch {
  const prefix = `{"query":${JSON.stringify(node.operation)},${node.operationName ? `"operationName":${JSON.stringify(node.operationName)},` : ''}"variables":`;
  return {
    service: node.serviceName,
    prefix,
    variableUsages: node.variableUsages ?? [],
    ...(node.requires ? { represent: compileRequires(node.requires, supergraph) } : {}),
    ...(node.requires && !node.inputRewrites?.length ? representationWriter(node.requires, supergraph) : {}),
    ...(node.inputRewrites?.length ? { inputRewrites: compileRewrites(node.inputRewrites, supergraph) } : {}),
    ...(node.outputRewrites?.length ? { outputRewrites: compileRewrites(node.outputRewrites, supergraph) } : {}),
    shareable: node.operationKind === 'query',
  };
}

/** Whether `value` is of type `typeCondition` (the gateway's `isObjectOfType`). */
function isObjectOfType(schema: GraphQLSchema, value: Data, typeCondition: string, whenUnknown = false): boolean {
  const typename = value.__typename;
  if (!typename) return whenUnknown;
  if (typename === typeCondition) return true;
  const type = typeof typename === 'string' ? schema.getType(typename) : undefined;
  const condition = schema.getType(typeCondition);
  if (!type || !condition || !isAbstractType(condition)) return false;
  return (isObjectType(type) || isInterfaceType(type)) && schema.isSubType(condition, type);
}

/**
 * The function that picks an entity's representation: the fields `requires` names, with
 * their sub-selections; null when one is missing (an error upstream already says why).
 */
function compileRequires(selections: readonly QueryPlanSelectionNode[], schema: GraphQLSchema): (source: Data) => Data | null {
  const pickers = selections.map((selection): ((source: Data, into: Data) => boolean) => {
    if (selection.kind === 'Field') {
      const name = selection.alias ?? selection.name;
      const sub = selection.selections ? compileRequires(selection.selections, schema) : undefined;
      return (source, into) => {
        if (!Object.hasOwn(source, name) || source[name] === undefined) return false;
        const value = source[name];
        if (Array.isArray(value)) into[name] = sub ? value.map((v) => pickNested(v, sub)) : value;
        else into[name] = sub ? pickNested(value, sub) : value;
        return true;
      };
    }
    const condition = selection.typeCondition;
    const inner = compileRequires(selection.selections, schema);
    return (source, into) => {
      if (!condition || !isObjectOfType(schema, source, condition)) return true;
      const picked = inner(source);
      if (picked) mergeInto(into, picked);
      return true;
    };
  });
  return (source) => {
    if (source === null) return null;
    const into: Data = {};
    for (const pick of pickers) if (!pick(source, into)) return null;
    return into;
  };
}

/**
 * `representJson` for requires made of inline fragments on object types selecting plain
 * fields, `__typename` among them: the JSON of `compileRequires`'s representation, key for
 * key, or null where it gives null or no `__typename`. Undefined for any other shape.
 */
function representationWriter(selections: readonly QueryPlanSelectionNode[], schema: GraphQLSchema): { representJson: (entity: Data) => string | null } | undefined {
  const byType = new Map<string, { names: string[]; keys: string[] }>();
  for (const selection of selections) {
    if (selection.kind !== 'InlineFragment' || !selection.typeCondition) return undefined;
    if (!isObjectType(schema.getType(selection.typeCondition)) || byType.has(selection.typeCondition)) return undefined;
    const names: string[] = [];
    for (const field of selection.selections) {
      if (field.kind !== 'Field' || field.selections) return undefined;
      names.push(field.alias ?? field.name);
    }
    if (!names.includes('__typename')) return undefined;
    byType.set(selection.typeCondition, { names, keys: names.map((name, i) => `${i === 0 ? '{' : ','}${JSON.stringify(name)}:`) });
  }
  return {
    representJson: (entity) => {
      // On an object type, only the fragment on the entity's own type applies.
      const typename = entity.__typename;
      const fields = typeof typename === 'string' ? byType.get(typename) : undefined;
      if (!fields) return null;
      let json = '';
      for (let i = 0; i < fields.names.length; i++) {
        const name = fields.names[i]!;
        const value = Object.hasOwn(entity, name) ? entity[name] : undefined;
        if (value === undefined) return null;
        json += fields.keys[i]! + JSON.stringify(value);
      }
      return `${json}}`;
    },
  };
}

function pickNested(value: unknown, pick: (source: Data) => Data | null): unknown {
  if (Array.isArray(value)) return value.map((v) => pickNested(v, pick));
  return value === null || value === undefined ? null : pick(value as Data);
}

/** Rewrites of one fetch's input or output (values set, keys renamed under type conditions). */
function compileRewrites(rewrites: readonly FetchDataRewrite[], schema: GraphQLSchema): (value: Data) => void {
  const compiled = rewrites.flatMap((rewrite) => {
    if (rewrite.path.length === 0) return [];
    const parent = rewrite.path.slice(0, -1).map(pathElement);
    const last = rewrite.path[rewrite.path.length - 1]!;
    const apply =
      rewrite.kind === 'ValueSetter'
        ? (object: Data) => {
            object[last] = rewrite.setValueTo;
          }
        : (object: Data) => {
            const value = Object.hasOwn(object, last) ? object[last] : undefined;
            if (value) {
              object[rewrite.renameKeyTo] = value;
              object[last] = undefined;
            }
          };
    return [(value: Data) => applyAtPath(schema, parent, 0, value, apply)];
  });
  return (value) => {
    for (const rewrite of compiled) rewrite(value);
  };
}

type PathElement = { field: string } | { typeName: string };

function pathElement(element: string): PathElement {
  return element.startsWith('... on ') ? { typeName: element.slice('... on '.length) } : { field: element };
}

function applyAtPath(schema: GraphQLSchema, path: readonly PathElement[], at: number, value: unknown, apply: (object: Data) => void): void {
  if (Array.isArray(value)) {
    for (const element of value) applyAtPath(schema, path, at, element, apply);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  const object = value as Data;
  if (at === path.length) {
    apply(object);
    return;
  }
  const element = path[at]!;
  if ('field' in element) applyAtPath(schema, path, at + 1, Object.hasOwn(object, element.field) ? object[element.field] : undefined, apply);
  else if (isObjectOfType(schema, object, element.typeName, true)) applyAtPath(schema, path, at + 1, object, apply);
}

// --- running -----------------------------------------------------------------------------

/** Runs `step` over `run.data`; errors of fetches are collected in `run.errors`, never thrown. */
export async function runStep(step: Step, run: PlanRun, cursor: Cursor | undefined = { path: [], data: run.data }): Promise<void> {
  if (!cursor) return;
  switch (step.kind) {
    case 'sequence':
      for (const child of step.steps) await runStep(child, run, cursor);
      return;
    case 'parallel':
      await Promise.all(step.steps.map((child) => runStep(child, run, cursor)));
      return;
    case 'flatten':
      return runStep(step.step, run, moveInto(cursor, step.path));
    case 'fetch':
      try {
        await runFetch(step.fetch, run, cursor);
      } catch (error) {
        run.errors.push(error instanceof GraphQLError ? error : new GraphQLError((error as Error).message, { originalError: error as Error }));
      }
      return;
    case 'condition': {
      const branch = conditionHolds(step.variable, run) ? step.ifStep : step.elseStep;
      if (branch) await runStep(branch, run, cursor);
      return;
    }
  }
}

function conditionHolds(variable: string, run: PlanRun): boolean {
  const given = run.variables[variable];
  if (given !== undefined) return Boolean(given);
  const definition = run.variableDefinitions.find((d) => d.variable.name.value === variable);
  if (!definition?.defaultValue) return false;
  const type = typeFromAST(run.schema, definition.type as never);
  return Boolean(type && valueFromAST(definition.defaultValue, type as never));
}

function moveInto(cursor: Cursor, path: ResponsePath): Cursor | undefined {
  const data = flattenAt(cursor.data, path, 0);
  return data ? { path: cursor.path.concat(path), data: data as Data | Data[] } : undefined;
}

function flattenAt(value: unknown, path: ResponsePath, at: number): unknown {
  if (at === path.length || value === undefined || value === null) return value;
  const element = path[at]!;
  if (element === '@') {
    if (!Array.isArray(value)) return undefined;
    const out: unknown[] = [];
    for (const item of value) {
      const inner = flattenAt(item, path, at + 1);
      if (Array.isArray(inner)) for (const x of inner) out.push(x);
      else out.push(inner);
    }
    return out;
  }
  if (Array.isArray(value)) return undefined;
  const object = value as Data;
  return flattenAt(Object.hasOwn(object, element as string) ? object[element as string] : undefined, path, at + 1);
}

function fetchVariables(fetch: CompiledFetch, variables: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of fetch.variableUsages) {
    if (Object.hasOwn(variables, name) && variables[name] !== undefined) out[name] = variables[name];
  }
  return out;
}

async function runFetch(fetch: CompiledFetch, run: PlanRun, cursor: Cursor): Promise<void> {
  const entities: Data[] = [];
  if (Array.isArray(cursor.data)) {
    for (const entity of cursor.data) if (entity !== null && entity !== undefined) entities.push(entity);
  } else {
    entities.push(cursor.data);
  }
  if (entities.length === 0) return;
  const variables = fetchVariables(fetch, run.variables);

  if (!fetch.represent) {
    const response = await run.client.send(fetch.service, `${fetch.prefix}${JSON.stringify(variables)}}`, run.context, fetch.shareable);
    if (response.errors) collectErrors(response, fetch, cursor, run, undefined);
    const data = response.data;
    if (!data) return;
    fetch.outputRewrites?.(data);
    for (const entity of entities) deepMerge(entity, data);
    return;
  }

  // One representation per distinct entity: an entity met at several places is asked for once.
  const representations: string[] = [];
  const indexOf = new Map<string, number>();
  const entityRepresentation = new Int32Array(entities.length).fill(-1);
  for (let i = 0; i < entities.length; i++) {
    let json: string | null;
    if (fetch.representJson) {
      json = fetch.representJson(entities[i]!);
      if (json === null) continue;
    } else {
      const representation = fetch.represent(entities[i]!);
      if (!representation || !representation.__typename) continue;
      fetch.inputRewrites?.(representation);
      json = JSON.stringify(representation);
    }
    let index = indexOf.get(json);
    if (index === undefined) {
      index = representations.length;
      representations.push(json);
      indexOf.set(json, index);
    }
    entityRepresentation[i] = index;
  }
  if (representations.length === 0) return;
  if ('representations' in variables) throw new Error('Variables cannot contain key "representations"');
  const fixed = JSON.stringify(variables);
  const list = `"representations":[${representations.join(',')}]`;
  const body = `${fetch.prefix}${fixed === '{}' ? `{${list}}` : `${fixed.slice(0, -1)},${list}}`}}`;
  const response = await run.client.send(fetch.service, body, run.context, fetch.shareable);
  if (response.errors) collectErrors(response, fetch, cursor, run, { entityRepresentation, count: entities.length });
  if (!response.data) return;
  const received = response.data._entities;
  if (!Array.isArray(received)) throw new Error('Expected "data._entities" in response to be an array');
  if (received.length !== representations.length) throw new Error(`Expected "data._entities" to contain ${representations.length} elements`);
  if (fetch.outputRewrites) for (const entity of received) if (entity) fetch.outputRewrites(entity as Data);
  for (let i = 0; i < entities.length; i++) {
    const index = entityRepresentation[i]!;
    if (index < 0) continue;
    const entity = received[index] as Data | null;
    if (!entity) continue;
    const target = entities[i]!;
    if (!entity.__typename) entity.__typename = target.__typename;
    deepMerge(target, entity);
  }
}

/** Merges `source` into `target` in place: objects field by field, lists of one length element by element. */
export function deepMerge(target: Data, source: Data | null | undefined): void {
  if (source === null || source === undefined) return;
  for (const key of Object.keys(source)) {
    const value = source[key];
    if (value === undefined) continue;
    const existing = Object.hasOwn(target, key) ? target[key] : undefined;
    if (existing && isPlainObject(value)) {
      deepMerge(existing as Data, value as Data);
    } else if (Array.isArray(value) && Array.isArray(existing) && value.length === existing.length) {
      for (let i = 0; i < value.length; i++) {
        if (isPlainObject(existing[i]) && isPlainObject(value[i])) deepMerge(existing[i] as Data, value[i] as Data);
        else existing[i] = value[i];
      }
    } else {
      target[key] = value;
    }
  }
}

function mergeInto(target: Data, source: Data): void {
  deepMerge(target, source);
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// --- errors ------------------------------------------------------------------------------

/** Where each entity of a fetch sits in the response: paths with list indexes in place of `@`. */
function hydratedPaths(cursor: Cursor, run: PlanRun): ResponsePath[] {
  const out: ResponsePath[] = [];
  const walk = (prefix: ResponsePath, at: number, value: unknown): void => {
    if (value === null || value === undefined) return;
    if (at === cursor.path.length) {
      out.push(prefix.slice());
      return;
    }
    const element = cursor.path[at]!;
    if (Array.isArray(value)) {
      const next = element === '@' ? at + 1 : at;
      value.forEach((item, index) => {
        prefix.push(index);
        walk(prefix, next, item);
        prefix.pop();
      });
      return;
    }
    if (element === '@') return;
    const object = value as Data;
    if (!Object.hasOwn(object, element as string)) return;
    prefix.push(element);
    walk(prefix, at + 1, object[element as string]);
    prefix.pop();
  };
  walk([], 0, run.data);
  return out;
}

function collectErrors(
  response: SubgraphResponse,
  fetch: CompiledFetch,
  cursor: Cursor,
  run: PlanRun,
  entities: { entityRepresentation: Int32Array; count: number } | undefined,
): void {
  let paths: ResponsePath[] | undefined;
  for (const error of response.errors ?? []) {
    const errorPath = error.path;
    if (entities && typeof errorPath?.[1] === 'number') {
      paths ??= hydratedPaths(cursor, run);
      // Every entity that shared the representation gets the error at its own place.
      const at: ResponsePath[] = [];
      for (let i = 0; i < entities.count; i++) if (entities.entityRepresentation[i] === errorPath[1]) at.push(paths[i] ?? []);
      if (at.length === 0) at.push([]);
      for (const prefix of at) run.errors.push(downstreamError(error, fetch.service, [...prefix, ...errorPath.slice(2)]));
    } else {
      run.errors.push(downstreamError(error, fetch.service, errorPath ? [...cursor.path, ...errorPath] : undefined));
    }
  }
}

/** A subgraph's error as the gateway reports it: its message and code, at its path in the whole response. */
export function downstreamError(
  original: NonNullable<SubgraphResponse['errors']>[number],
  service: string,
  path: ResponsePath | undefined,
): GraphQLError {
  const message = original.message || `Error while fetching subquery from service "${service}"`;
  const options: GraphQLErrorOptions = {
    originalError: original as Error,
    ...(path ? { path } : {}),
    extensions: { ...original.extensions, serviceName: service },
  };
  const known = errorCodeDef(original as never);
  if (!known && original.extensions?.code) return new GraphQLError(message, options);
  return (known ?? ERRORS.DOWNSTREAM_SERVICE_ERROR).err(message, options);
}
