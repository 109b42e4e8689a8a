import { buildOperationContext, executeQueryPlan, type GraphQLDataSource, type ServiceMap } from '@apollo/gateway';
import { Supergraph, operationFromDocument, type Schema } from '@apollo/federation-internals';
import { QueryPlanner, type FetchNode, type PlanNode, type QueryPlan } from '@apollo/query-planner';
import type { GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import { LRUCache } from 'lru-cache';
import {
  GraphQLError,
  getOperationAST,
  getVariableValues,
  print,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { ShopError } from '../platform/errors';
import type { RouterContext } from './context';

/** Where the primary fetch's result comes from when the rest of the plan runs: the event itself. */
const EVENT_SOURCE = '__subscription_event__';

/** Plans kept per operation text; the least recently used goes first once full. */
const PLAN_CACHE_SIZE = 500;

/** A subscription the router accepted, ready to open at its subgraph and to run for each event. */
export interface PlannedSubscription {
  /** The subgraph that owns the subscription field, and the operation to open there. */
  primary: FetchNode;
  /** Fetches from other subgraphs that complete each event (absent when one subgraph answers all). */
  rest?: PlanNode;
  document: DocumentNode;
  operationName?: string;
  /** The operation's name and printed text: equal for every client sending the same operation. */
  operationKey: string;
  /** The client's variables, as sent; the primary gets the ones it uses. */
  variables: Record<string, unknown>;
}

type CachedPlan = Pick<PlannedSubscription, 'primary' | 'rest'>;

function withCode(error: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, extensions: { ...error.extensions, code } });
}

/**
 * Plans federated subscriptions with Apollo's query planner, as `@apollo/gateway` plans
 * queries, and executes the part the gateway will not: each event from the owning
 * subgraph becomes the result of the primary fetch, and the rest of the plan (entity
 * fetches to other subgraphs) runs on it through the gateway's own executor.
 */
export class SubscriptionPlanner {
  /** The public schema clients validate against (no federation internals). */
  readonly apiSchema: GraphQLSchema;
  private readonly api: Schema;
  private readonly supergraphSchema: GraphQLSchema;
  private readonly planner: QueryPlanner;
  private readonly plans = new LRUCache<string, CachedPlan>({ max: PLAN_CACHE_SIZE });
  /** HTTP URL of every subgraph, overrides applied. */
  readonly subgraphUrls: ReadonlyMap<string, string>;

  constructor(supergraphSdl: string, urlOverrides: Partial<Record<string, string>> = {}) {
    const supergraph = Supergraph.build(supergraphSdl);
    this.api = supergraph.apiSchema();
    this.apiSchema = this.api.toGraphQLJSSchema();
    this.supergraphSchema = supergraph.schema.toGraphQLJSSchema();
    this.planner = new QueryPlanner(supergraph);
    this.subgraphUrls = new Map(supergraph.subgraphsMetadata().map(({ name, url }) => [name, urlOverrides[name] ?? url]));
  }

  /**
   * Validates a subscription against the API schema and plans it. Returns the errors a
   * client should see instead when the document, the operation or the variables are wrong.
   */
  plan(document: DocumentNode, operationName: string | undefined, variables: Record<string, unknown> = {}): PlannedSubscription | readonly GraphQLError[] {
    const invalid = validate(this.apiSchema, document);
    if (invalid.length > 0) return invalid.map((e) => withCode(e, 'GRAPHQL_VALIDATION_FAILED'));
    const operation = getOperationAST(document, operationName);
    if (!operation) {
      const message = operationName ? `Unknown operation named "${operationName}".` : 'Send exactly one operation, or name the one to run.';
      return [new ShopError('OPERATION_RESOLUTION_FAILURE', message)];
    }
    if (operation.operation !== 'subscription') {
      // Queries and mutations go over HTTP, where persisted-operation and cost limits apply.
      return [new ShopError('BAD_REQUEST', 'This WebSocket serves subscriptions; send queries and mutations over HTTP.')];
    }
    const coerced = getVariableValues(this.apiSchema, operation.variableDefinitions ?? [], variables);
    if (coerced.errors) return coerced.errors.map((e) => withCode(e, 'BAD_USER_INPUT'));

    const key = `${operationName ?? ''}\n${print(document)}`;
    let cached = this.plans.get(key);
    if (!cached) {
      const queryPlan = this.planner.buildQueryPlan(operationFromDocument(this.api, document, { operationName }));
      const node = queryPlan.node;
      if (node?.kind !== 'Subscription') throw new Error(`expected a subscription plan, got ${node?.kind ?? 'none'}`);
      cached = { primary: node.primary, ...(node.rest ? { rest: node.rest } : {}) };
      this.plans.set(key, cached);
    }
    return { ...cached, document, ...(operationName ? { operationName } : {}), operationKey: key, variables };
  }

  /** The request the owning subgraph's WebSocket receives: the primary fetch and the variables it uses. */
  primaryRequest(planned: PlannedSubscription): { query: string; operationName?: string; variables: Record<string, unknown> } {
    const variables: Record<string, unknown> = {};
    for (const name of planned.primary.variableUsages ?? []) {
      if (planned.variables[name] !== undefined) variables[name] = planned.variables[name];
    }
    return { query: planned.primary.operation, ...(planned.primary.operationName ? { operationName: planned.primary.operationName } : {}), variables };
  }

  /**
   * Completes one event: runs the rest of the plan with the event as the primary's
   * result and shapes the payload to the client's selection. A failing secondary fetch
   * leaves errors (and nulls) in the payload; it never throws.
   */
  async runEvent(planned: PlannedSubscription, event: ExecutionResult | { data?: unknown; errors?: readonly GraphQLFormattedError[] }, context: RouterContext, services: ServiceMap): Promise<ExecutionResult> {
    const eventSource: GraphQLDataSource = {
      process: async () => ({
        data: (event.data ?? null) as Record<string, unknown> | null,
        ...(event.errors ? { errors: event.errors as GraphQLFormattedError[] } : {}),
      }),
    };
    const nodes: PlanNode[] = [{ ...planned.primary, serviceName: EVENT_SOURCE }];
    if (planned.rest) nodes.push(planned.rest);
    const plan: QueryPlan = { kind: 'QueryPlan', node: { kind: 'Sequence', nodes } };
    // The executor reads only these parts of a request context.
    const requestContext = {
      request: { variables: planned.variables, operationName: planned.operationName },
      context,
      logger: context.logger,
      metrics: {},
    } as unknown as GatewayGraphQLRequestContext<RouterContext>;
    try {
      const operationContext = buildOperationContext({ schema: this.apiSchema, operationDocument: planned.document, operationName: planned.operationName });
      const result = await executeQueryPlan(plan, { ...services, [EVENT_SOURCE]: eventSource }, requestContext, operationContext, this.supergraphSchema, this.api);
      return {
        data: (result.data ?? null) as ExecutionResult['data'],
        ...(result.errors ? { errors: result.errors as GraphQLError[] } : {}),
      };
    } catch (error) {
      context.logger.error({ err: error }, 'subscription event failed');
      return { data: null, errors: [new GraphQLError('The event could not be completed.', { originalError: error as Error })] };
    }
  }
}
