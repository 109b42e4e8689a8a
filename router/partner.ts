/**
 * The partner channel: `/partner/graphql` serves the partner contract (router/contract.ts)
 * to callers with an API key, through the same gateway, guard and error formatting as
 * `/graphql`, with a cost bucket per key; `/partner/schema.graphql` serves the contract SDL.
 *
 * A second Apollo Server validates and introspects against the contract. Its "gateway"
 * hands it the contract as its schema and, as its executor, the main gateway's: the same
 * query planner, plan cache and subgraph connections. Introspection is the one part the
 * main executor answers from its own schema, the whole graph, so root `__schema`, `__type`
 * and `__typename` fields are answered here from the contract.
 */
import type { IncomingMessage } from 'node:http';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import type { GatewayExecutor, GatewayInterface, GatewaySchemaLoadOrUpdateCallback } from '@apollo/server-gateway-interface';
import {
  execute,
  Kind,
  printSchema,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { serviceToken } from '../platform/api-keys';
import type { Config } from '../platform/config';
import { ShopError, isErrorCode } from '../platform/errors';
import type { GraphQLEndpoint, HttpRoute } from '../platform/http';
import type { Logger } from '../platform/logger';
import { graphqlMetricsPlugin, partnerCost, partnerErrors, partnerOperations, partnerThrottled } from '../platform/metrics';
import type { PubSub } from '../platform/pubsub';
import type { RouterContext } from './context';
import { contractSchema } from './contract';
import { Edge, type EdgeOptions } from './edge';
import { ApiKeyRing } from './partner-keys';
import { inProcessBudget, redisBudget, type CostBudget } from './rate-limit';

/** Where partners send operations. */
export const PARTNER_GRAPHQL_PATH = '/partner/graphql';
/** Where partners read the contract's SDL. */
export const PARTNER_SCHEMA_PATH = '/partner/schema.graphql';
/** The header a partner sends its API key in. */
export const API_KEY_HEADER = 'x-api-key';

/** How the router serves partners. */
export interface PartnerSettings {
  /** Shown to the customer subgraph's internal endpoints to read the keys. */
  serviceToken: string;
  /** Where key changes are announced (the process's pub/sub). */
  pubsub: PubSub;
  /** Cost buckets in Redis, shared by replicas, under `<prefix>:partner-bucket:*`; in process without. */
  redis?: { url: string; prefix: string };
  /** Pause between reloads of the keys, in ms; default 4000. */
  resyncMs?: number;
  /** Pause between reports of key use, in ms; default 5000. */
  useFlushMs?: number;
}

/** The partner settings the configuration sets, on the process's pub/sub. */
export function partnerSettingsFrom(config: Config, pubsub: PubSub): PartnerSettings {
  return {
    serviceToken: serviceToken(config),
    pubsub,
    ...(config.REDIS_URL ? { redis: { url: config.REDIS_URL, prefix: config.EVENT_STREAM_PREFIX } } : {}),
    resyncMs: config.API_KEY_RESYNC_MS,
    useFlushMs: config.API_KEY_USE_FLUSH_MS,
  };
}

/** What the router's partner channel adds to its HTTP server. */
export interface PartnerEndpoint {
  endpoint: GraphQLEndpoint<RouterContext>;
  routes: Record<string, HttpRoute>;
  /** Whether the keys were loaded at least once. */
  ready(): boolean;
  close(): Promise<void>;
}

/** The root fields of an operation, through its fragments. */
function rootFields(selectionSet: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, seen = new Set<string>()): FieldNode[] {
  return selectionSet.selections.flatMap((selection) => {
    if (selection.kind === Kind.FIELD) return [selection];
    if (selection.kind === Kind.INLINE_FRAGMENT) return rootFields(selection.selectionSet, fragments, seen);
    const fragment = fragments.get(selection.name.value);
    if (!fragment || seen.has(fragment.name.value)) return [];
    seen.add(fragment.name.value);
    return rootFields(fragment.selectionSet, fragments, seen);
  });
}

/** The main gateway's executor, with the operation's introspection answered from the contract. */
export function contractExecutor(executor: GatewayExecutor, contract: GraphQLSchema): GatewayExecutor {
  return async (requestContext) => {
    const operation = requestContext.operation as OperationDefinitionNode;
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const d of requestContext.document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
    if (!contract.getRootType(operation.operation)) return { errors: [new ShopError('GRAPHQL_VALIDATION_FAILED', `The partner graph has no ${operation.operation} type.`)] };
    const fields = rootFields(operation.selectionSet, fragments);
    const meta = fields.filter((field) => field.name.value.startsWith('__'));
    if (meta.length === 0) return executor(requestContext);
    const document: DocumentNode = {
      kind: Kind.DOCUMENT,
      definitions: [{ ...operation, selectionSet: { kind: Kind.SELECTION_SET, selections: meta } }, ...fragments.values()],
    };
    const introspected = await execute({ schema: contract, document, variableValues: requestContext.request.variables ?? {} });
    if (meta.length === fields.length) return introspected;
    const result = await executor(requestContext);
    if (result.data && introspected.data) {
      for (const field of meta) {
        const key = field.alias?.value ?? field.name.value;
        if (key in introspected.data) result.data[key] = introspected.data[key];
      }
    }
    return result;
  };
}

/** A gateway for Apollo Server that serves `contract` through the router's executor. */
function contractGateway(main: GatewayExecutor, contract: GraphQLSchema, supergraphSdl: string): GatewayInterface {
  const listeners = new Set<GatewaySchemaLoadOrUpdateCallback>();
  return {
    async load() {
      for (const listener of listeners) listener({ apiSchema: contract, coreSupergraphSdl: supergraphSdl });
      return { executor: contractExecutor(main, contract) };
    },
    onSchemaLoadOrUpdate(callback) {
      listeners.add(callback);
      return () => listeners.delete(callback);
    },
    // The main server stops the gateway.
    async stop() {},
  };
}

/**
 * Refuses an operation of a type the contract has no root for (a mutation): graphql-js 16
 * leaves that to execution, and execution here is the main gateway's, over the whole graph.
 */
function contractRootsPlugin(): ApolloServerPlugin<RouterContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, schema }) {
          if (operation && !schema.getRootType(operation.operation)) {
            throw new ShopError('GRAPHQL_VALIDATION_FAILED', `The partner graph has no ${operation.operation} type.`, { http: { status: 400 } });
          }
        },
      };
    },
  };
}

/** Counts partner operations, their errors and refusals by API key id. */
function partnerMetricsPlugin(): ApolloServerPlugin<RouterContext> {
  return {
    async requestDidStart({ contextValue }) {
      const key = contextValue.partner?.id ?? 'none';
      return {
        async didEncounterErrors({ errors }) {
          for (const error of errors) {
            const code = error.extensions?.code;
            partnerErrors.inc({ key, code: isErrorCode(code) ? code : 'INTERNAL_SERVER_ERROR' });
            if (code === 'THROTTLED') partnerThrottled.inc({ key });
          }
        },
        async willSendResponse({ response }) {
          const failed = response.body.kind === 'single' && (response.body.singleResult.errors?.length ?? 0) > 0;
          partnerOperations.inc({ key, outcome: failed ? 'error' : 'ok' });
        },
      };
    },
  };
}

/**
 * Builds the partner channel over the router's gateway: the contract, the key ring (loaded
 * before this resolves, or serving after a few seconds while it keeps trying), the cost
 * buckets and the second Apollo Server.
 */
export async function openPartnerEndpoint(options: {
  supergraphSdl: string;
  /** The router's executor, over the whole graph. */
  executor: GatewayExecutor;
  /** The customer subgraph's `/graphql` URL; its internal endpoints are on the same port. */
  customerUrl: string;
  settings: PartnerSettings;
  /** The guard of `/graphql`, less the budget: same limits and prices. */
  edge: Omit<EdgeOptions, 'budget' | 'onCost'>;
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  introspection: boolean;
  hideSchemaDetails: boolean;
  maxTokens: number;
  logger: Logger;
}): Promise<PartnerEndpoint> {
  const logger = options.logger.child({ channel: 'partner' });
  const contract = contractSchema(options.supergraphSdl);
  const sdl = `${printSchema(contract)}\n`;
  const { settings } = options;
  const ring = await new ApiKeyRing({
    customerUrl: new URL(options.customerUrl).origin,
    serviceToken: settings.serviceToken,
    pubsub: settings.pubsub,
    logger,
    ...(settings.resyncMs ? { resyncMs: settings.resyncMs } : {}),
    ...(settings.useFlushMs ? { useFlushMs: settings.useFlushMs } : {}),
  }).open();
  const budget: CostBudget = settings.redis ? redisBudget({ ...settings.redis, logger }) : inProcessBudget();
  const edge = new Edge({
    ...options.edge,
    budget,
    onCost: (context, cost) => {
      if (context.partner && cost.actualQueryCost !== undefined) partnerCost.inc({ key: context.partner.id }, cost.actualQueryCost);
    },
  });
  const apollo = new ApolloServer<RouterContext>({
    gateway: contractGateway(options.executor, contract, options.supergraphSdl),
    formatError: options.formatError,
    includeStacktraceInErrorResponses: false,
    introspection: options.introspection,
    hideSchemaDetailsFromClientErrors: options.hideSchemaDetails,
    parseOptions: { maxTokens: options.maxTokens },
    stopOnTerminationSignals: false,
    logger,
    // The roots check runs beside the guard; an operation it refuses returns nothing, so the guard gives its cost back.
    plugins: [graphqlMetricsPlugin<RouterContext>('partner'), partnerMetricsPlugin(), contractRootsPlugin(), edge.plugin()],
  });
  const context = async (req: IncomingMessage, requestId: string): Promise<RouterContext> => {
    const header = req.headers[API_KEY_HEADER];
    const partner = ring.verify(Array.isArray(header) ? header[0] : header);
    if (!partner) {
      throw new ShopError('UNAUTHENTICATED', 'Send a valid API key in the X-Api-Key header.', { http: { status: 401 } });
    }
    return {
      requestId,
      // Partners are not customers: no access token travels to the subgraphs.
      headers: { 'user-agent': req.headers['user-agent'] },
      ...(req.socket.remoteAddress ? { clientAddress: req.socket.remoteAddress } : {}),
      viewer: { kind: 'anonymous' },
      partner,
      logger: logger.child({ requestId, apiKey: partner.id }),
    };
  };
  const schemaRoute: HttpRoute = async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(sdl) });
    res.end(req.method === 'HEAD' ? undefined : sdl);
  };
  return {
    endpoint: { apollo, context },
    routes: { [PARTNER_SCHEMA_PATH]: schemaRoute },
    ready: () => ring.loaded,
    close: async () => {
      await ring.close();
      await budget.close();
    },
  };
}
