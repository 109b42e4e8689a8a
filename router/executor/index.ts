import { Supergraph, operationFromDocument, type Schema } from '@apollo/federation-internals';
import { QueryPlanner, type FetchNode, type QueryPlan } from '@apollo/query-planner';
import type {
  GatewayExecutionResult,
  GatewayExecutor,
  GatewayGraphQLRequestContext,
  GatewayInterface,
  GatewaySchemaLoadOrUpdateCallback,
} from '@apollo/server-gateway-interface';
import { LRUCache } from 'lru-cache';
import {
  GraphQLError,
  Kind,
  OperationTypeNode,
  executeSync,
  getOperationAST,
  getVariableValues,
  typeFromAST,
  valueFromAST,
  visit,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { ShopError } from '../../platform/errors';
import type { Logger } from '../../platform/logger';
import { keepNamesOneByte } from '../../platform/one-byte-names';
import type { RouterContext } from '../context';
import { compileFetch, compileStep, deepMerge, downstreamError, runStep, type PlanRun, type Step } from './plan';
import { ShapeCompiler, shapeResponse, type ResponseShape } from './shape';
import { SubgraphClient, type SubgraphClientOptions } from './subgraph-client';

export { SubgraphClient } from './subgraph-client';

/** Operations whose plans are kept; the least recently used goes first once full. */
const DEFAULT_PLAN_CACHE_SIZE = 1000;

export interface RouterExecutorOptions extends Omit<SubgraphClientOptions, 'logger'> {
  /** The supergraph as the planner reads it (see `plannerSupergraph`). */
  supergraphSdl: string;
  /** Per-subgraph URL overrides (tests on free ports, containers). */
  subgraphUrls?: Partial<Record<string, string>>;
  /** Operations whose compiled plans are kept; default 1000. */
  planCacheSize?: number;
  logger: Logger;
}

/** An operation planned and compiled: what runs for every request with its text and name. */
export interface PreparedOperation {
  operation: OperationDefinitionNode;
  fragments: FragmentDefinitionNode[];
  plan: QueryPlan;
  /** What runs: the whole plan; for a subscription, what completes each event. */
  step?: Step;
  /** A subscription's fetch at the subgraph that owns its field: each event is its answer. */
  primary?: FetchNode;
  /** Rewrites of the primary's answers. */
  primaryRewrites?: (value: Record<string, unknown>) => void;
  /** Variables that `@skip`/`@include` read: the shape depends on their values. */
  conditionVariables: string[];
  /** Shapes by the values of those variables. */
  shapes: Map<string, ResponseShape>;
}

/**
 * The router's executor: Apollo's query planner decides, this runs. Plans are cached per
 * operation text and name (bounded), compiled once, and run over undici connection pools;
 * each subgraph's answer is parsed once and merged in place; the response is cut out by a
 * shape built once per operation and serialised once, by Apollo Server.
 */
export class RouterExecutor {
  readonly supergraph: Supergraph;
  /** The public schema clients validate against. */
  readonly apiSchema: GraphQLSchema;
  /** Every type and field, @inaccessible ones too: representations and rewrites are read against it. */
  readonly supergraphSchema: GraphQLSchema;
  readonly api: Schema;
  readonly planner: QueryPlanner;
  /** HTTP URL of every subgraph, overrides applied. */
  readonly subgraphUrls: ReadonlyMap<string, string>;
  readonly client: SubgraphClient;
  private readonly plans: LRUCache<string, PreparedOperation>;

  constructor(options: RouterExecutorOptions) {
    keepNamesOneByte(options.supergraphSdl);
    this.supergraph = Supergraph.build(options.supergraphSdl);
    this.api = this.supergraph.apiSchema();
    this.apiSchema = this.api.toGraphQLJSSchema();
    this.supergraphSchema = this.supergraph.schema.toGraphQLJSSchema();
    this.planner = new QueryPlanner(this.supergraph);
    this.subgraphUrls = new Map(this.supergraph.subgraphsMetadata().map(({ name, url }) => [name, options.subgraphUrls?.[name] ?? url]));
    this.client = new SubgraphClient(this.subgraphUrls, { ...options, logger: options.logger });
    this.plans = new LRUCache({ max: options.planCacheSize ?? DEFAULT_PLAN_CACHE_SIZE });
  }

  /** Plans `document`'s operation (Apollo's planner); cached by `key`. */
  plan(document: DocumentNode, operationName: string | undefined, key: string): PreparedOperation {
    let prepared = this.plans.get(key);
    if (prepared) return prepared;
    const operation = getOperationAST(document, operationName);
    if (!operation) throw new ShopError('OPERATION_RESOLUTION_FAILURE', operationName ? `Unknown operation named "${operationName}".` : 'Must provide an operation.');
    const plan = this.planner.buildQueryPlan(operationFromDocument(this.api, document, { operationName }));
    const node = plan.node;
    prepared = {
      operation,
      fragments: document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION),
      plan,
      ...(node && node.kind !== 'Subscription' ? { step: compileStep(node, this.supergraphSchema) } : {}),
      ...(node?.kind === 'Subscription'
        ? {
            primary: node.primary,
            ...(node.rest ? { step: compileStep(node.rest, this.supergraphSchema) } : {}),
            ...(node.primary.outputRewrites?.length ? { primaryRewrites: compileFetch(node.primary, this.supergraphSchema).outputRewrites! } : {}),
          }
        : {}),
      conditionVariables: conditionVariables(operation, document),
      shapes: new Map(),
    };
    this.plans.set(key, prepared);
    return prepared;
  }

  /** Apollo Server's executor for the gateway: plans (cached), runs, shapes. */
  readonly execute: GatewayExecutor = async (requestContext) => {
    const { request, document, queryHash } = requestContext as GatewayGraphQLRequestContext<RouterContext>;
    const key = request.operationName ? `${queryHash}\0${request.operationName}` : queryHash;
    const prepared = this.plan(document, request.operationName, key);
    const variables = request.variables ?? {};
    const definitions = prepared.operation.variableDefinitions ?? [];
    if (definitions.length > 0) {
      const coerced = getVariableValues(requestContext.schema, definitions, variables);
      if (coerced.errors) return { errors: coerced.errors };
    }
    if (prepared.operation.operation === OperationTypeNode.SUBSCRIPTION) {
      return { errors: [new ShopError('BAD_REQUEST', 'Subscriptions are served over WebSocket (graphql-transport-ws) on this path.')] };
    }
    return this.run(prepared, variables, requestContext.context as Partial<RouterContext>);
  };

  /**
   * Completes one event of a subscription: the event is the primary fetch's answer (its
   * errors are reported as that subgraph's), the rest of the plan runs on it, and the
   * payload is shaped to the client's selection.
   */
  runEvent(
    prepared: PreparedOperation,
    event: { data?: unknown; errors?: readonly { message?: string; path?: readonly (string | number)[]; extensions?: Record<string, unknown> }[] },
    variables: Record<string, unknown>,
    context: Partial<RouterContext> | undefined,
  ): Promise<GatewayExecutionResult> {
    const service = prepared.primary?.serviceName ?? 'subscription';
    const errors = (event.errors ?? []).map((error) => downstreamError(error, service, error.path ? [...error.path] : undefined));
    const data: Record<string, unknown> = {};
    if (event.data && typeof event.data === 'object') {
      prepared.primaryRewrites?.(event.data as Record<string, unknown>);
      deepMerge(data, event.data as Record<string, unknown>);
    }
    return this.run(prepared, variables, context, { data, errors });
  }

  /** Runs a prepared operation's plan and shapes its response; `seed` is data and errors gathered before. */
  async run(
    prepared: PreparedOperation,
    variables: Record<string, unknown>,
    context: Partial<RouterContext> | undefined,
    seed: { data: Record<string, unknown>; errors: GraphQLError[] } = { data: {}, errors: [] },
  ): Promise<GatewayExecutionResult> {
    const run: PlanRun = {
      data: seed.data,
      errors: seed.errors,
      variables,
      variableDefinitions: prepared.operation.variableDefinitions ?? [],
      client: this.client,
      context,
      schema: this.apiSchema,
    };
    if (prepared.step) await runStep(prepared.step, run);
    const completion: GraphQLError[] = [];
    let shaped: Record<string, unknown> | null;
    try {
      shaped = shapeResponse(this.shapeFor(prepared, variables), run.data, {
        errors: completion,
        introspect: (node) => this.introspect(prepared, node, variables),
      });
    } catch (error) {
      return { errors: [error instanceof GraphQLError ? error : new GraphQLError((error as Error).message, { originalError: error as Error })] };
    }
    const errors = [...run.errors, ...unexplained(completion, run.errors)];
    return errors.length === 0 ? { data: shaped } : { errors, data: shaped };
  }

  private shapeFor(prepared: PreparedOperation, variables: Record<string, unknown>): ResponseShape {
    const values = new Map<string, boolean>();
    let signature = '';
    for (const name of prepared.conditionVariables) {
      const value = conditionValue(this.apiSchema, prepared.operation, name, variables);
      values.set(name, value);
      signature += value ? '1' : '0';
    }
    let shape = prepared.shapes.get(signature);
    if (!shape) {
      const compiler = new ShapeCompiler(this.apiSchema, prepared.operation, prepared.fragments, values);
      shape = { root: compiler.root(), compiler };
      prepared.shapes.set(signature, shape);
    }
    return shape;
  }

  private introspect(prepared: PreparedOperation, node: FieldNode, variables: Record<string, unknown>): unknown {
    const document: DocumentNode = {
      kind: Kind.DOCUMENT,
      definitions: [
        {
          kind: Kind.OPERATION_DEFINITION,
          operation: OperationTypeNode.QUERY,
          variableDefinitions: prepared.operation.variableDefinitions ?? [],
          selectionSet: { kind: Kind.SELECTION_SET, selections: [node] },
        },
        ...prepared.fragments,
      ],
    };
    const result = executeSync({ schema: this.apiSchema, document, rootValue: {}, variableValues: variables });
    return result.data?.[node.alias?.value ?? node.name.value] ?? null;
  }

  /** An Apollo Server gateway serving the API schema through this executor. */
  gateway(supergraphSdl: string): GatewayInterface {
    const listeners = new Set<GatewaySchemaLoadOrUpdateCallback>();
    return {
      load: async () => {
        for (const listener of listeners) listener({ apiSchema: this.apiSchema, coreSupergraphSdl: supergraphSdl });
        return { executor: this.execute };
      },
      onSchemaLoadOrUpdate: (callback) => {
        listeners.add(callback);
        return () => listeners.delete(callback);
      },
      stop: () => this.close(),
    };
  }

  /** Closes the subgraph connection pools. */
  async close(): Promise<void> {
    await this.client.close();
  }
}

/**
 * The value completion errors (a subgraph's null in a non-null field, a value of the wrong
 * type) that no fetch error explains. Every null a client gets in place of a value has an
 * error saying where, as the GraphQL spec requires; but a subgraph error at, above or below
 * the null's path already says why, and a fetch that failed without a path (a subgraph that
 * did not answer) may have left nulls anywhere: those are not reported twice.
 */
function unexplained(completion: readonly GraphQLError[], fetchErrors: readonly GraphQLError[]): GraphQLError[] {
  if (completion.length === 0) return [];
  if (fetchErrors.some((error) => !error.path)) return [];
  // A fetch error at or above the null caused it; one below it did too (the subgraph bubbled its null up).
  return completion.filter((error) => !fetchErrors.some((cause) => isPrefix(cause.path!, error.path ?? []) || isPrefix(error.path ?? [], cause.path!)));
}

function isPrefix(prefix: readonly (string | number)[], path: readonly (string | number)[]): boolean {
  return prefix.length <= path.length && prefix.every((element, i) => element === path[i]);
}

function conditionVariables(operation: OperationDefinitionNode, document: DocumentNode): string[] {
  const names = new Set<string>();
  visit(document, {
    Directive(node) {
      if (node.name.value !== 'skip' && node.name.value !== 'include') return;
      for (const arg of node.arguments ?? []) if (arg.value.kind === Kind.VARIABLE) names.add(arg.value.name.value);
    },
  });
  // Only variables the operation defines can be read.
  const defined = new Set((operation.variableDefinitions ?? []).map((d) => d.variable.name.value));
  return [...names].filter((name) => defined.has(name)).sort();
}

function conditionValue(schema: GraphQLSchema, operation: OperationDefinitionNode, name: string, variables: Record<string, unknown>): boolean {
  const given = variables[name];
  if (given !== undefined && given !== null) return given === true;
  const definition = operation.variableDefinitions?.find((d) => d.variable.name.value === name);
  if (!definition?.defaultValue) return false;
  const type = typeFromAST(schema, definition.type as never);
  return type ? valueFromAST(definition.defaultValue, type as never) === true : false;
}
