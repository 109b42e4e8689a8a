/**
 * Prometheus metrics of the process (prom-client): Node's own (event loop lag, heap, GC),
 * GraphQL requests and errors per service, WebSocket subscriptions, subgraph fetches of the
 * router, and domain events relayed and handled. One registry per process, so the one-process
 * shop and a container alike expose everything their process does on `/metrics`.
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Config } from './config';
import { isErrorCode } from './errors';

/** Who may read `/metrics`: nobody, anyone who reaches the port, or holders of a bearer token. */
export type MetricsAccess = { enabled: false } | { enabled: true; token?: string };

/** METRICS_TOKEN when set; open in development and tests; off in production without a token. */
export function metricsAccess(config: Pick<Config, 'METRICS_TOKEN' | 'NODE_ENV'>): MetricsAccess {
  if (config.METRICS_TOKEN) return { enabled: true, token: config.METRICS_TOKEN };
  return config.NODE_ENV === 'production' ? { enabled: false } : { enabled: true };
}

export const metricsRegistry = new Registry();
/**
 * How often the event loop's lag is sampled, in ms. prom-client's default of 10 ms wakes every
 * process a hundred times a second, which was most of what an idle shop spent (about 0.5 % of
 * a core per process); ten samples a second still catch every stall long enough to matter.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

collectDefaultMetrics({ register: metricsRegistry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });

const registers = [metricsRegistry];

export const graphqlRequests = new Counter({
  name: 'shop_graphql_requests_total',
  help: 'GraphQL operations served, by service, operation type and outcome (ok: no errors).',
  labelNames: ['service', 'operation', 'outcome'] as const,
  registers,
});

export const graphqlDuration = new Histogram({
  name: 'shop_graphql_request_duration_seconds',
  help: 'Time from receiving a GraphQL operation to sending its response, by service and operation type.',
  labelNames: ['service', 'operation'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers,
});

export const graphqlErrors = new Counter({
  name: 'shop_graphql_errors_total',
  help: 'Errors in GraphQL responses, by service and registry code (unknown errors count as INTERNAL_SERVER_ERROR).',
  labelNames: ['service', 'code'] as const,
  registers,
});

export const websocketConnections = new Gauge({
  name: 'shop_websocket_connections',
  help: 'Open graphql-ws connections, by service.',
  labelNames: ['service'] as const,
  registers,
});

export const activeSubscriptions = new Gauge({
  name: 'shop_subscriptions_active',
  help: 'Open subscriptions, by service.',
  labelNames: ['service'] as const,
  registers,
});

export const subscriptionPayloads = new Counter({
  name: 'shop_subscription_payloads_total',
  help: 'Payloads sent to subscribers, by service.',
  labelNames: ['service'] as const,
  registers,
});

export const subgraphRequests = new Counter({
  name: 'shop_router_subgraph_requests_total',
  help: 'Requests the router sent to each subgraph over HTTP.',
  labelNames: ['subgraph'] as const,
  registers,
});

export const persistedOperations = new Counter({
  name: 'shop_router_persisted_operations_total',
  help:
    'Persisted operations at the router, by client name and version (apollographql-client-* headers) and outcome: ' +
    'manifest_hit, apq_hit, miss (unknown id), registered (APQ text stored), refused (not in a safelisted client’s manifest).',
  labelNames: ['client_name', 'client_version', 'outcome'] as const,
  registers,
});

/** Client name and version pairs counted separately; later ones count as `other`, so callers cannot grow the series without bound. */
const MAX_CLIENT_LABELS = 200;
const clientLabelPairs = new Set<string>();

/** Metric labels of a client as it names itself: short printable names, at most MAX_CLIENT_LABELS pairs. */
export function clientLabels(name: string | undefined, version: string | undefined): { client_name: string; client_version: string } {
  const clean = (value: string | undefined) => (value && /^[\w.+@-]{1,64}$/.test(value) ? value : value ? 'other' : 'none');
  const labels = { client_name: clean(name), client_version: clean(version) };
  const key = `${labels.client_name}\0${labels.client_version}`;
  if (clientLabelPairs.has(key)) return labels;
  if (clientLabelPairs.size >= MAX_CLIENT_LABELS) return { client_name: 'other', client_version: 'other' };
  clientLabelPairs.add(key);
  return labels;
}

export const eventsPublished = new Counter({
  name: 'shop_events_published_total',
  help: 'Domain events the outbox relays handed to the bus, by type.',
  labelNames: ['type'] as const,
  registers,
});

export const eventsHandled = new Counter({
  name: 'shop_events_handled_total',
  help: 'Domain events consumers handled, by consumer group and outcome (failed deliveries are retried, then dead-lettered).',
  labelNames: ['group', 'outcome'] as const,
  registers,
});

export const eventsPruned = new Counter({
  name: 'shop_event_records_pruned_total',
  help: 'Event records deleted once past their retention (published outbox events, processed-message records, order notes), by subgraph and table.',
  labelNames: ['subgraph', 'table'] as const,
  registers,
});

export const partnerOperations = new Counter({
  name: 'shop_partner_operations_total',
  help: 'Operations on the partner endpoint, by API key id and outcome (ok: no errors).',
  labelNames: ['key', 'outcome'] as const,
  registers,
});

export const partnerErrors = new Counter({
  name: 'shop_partner_errors_total',
  help: 'Errors in partner endpoint responses, by API key id and registry code.',
  labelNames: ['key', 'code'] as const,
  registers,
});

export const partnerCost = new Counter({
  name: 'shop_partner_cost_total',
  help: 'Cost points partner operations spent (their actual cost), by API key id.',
  labelNames: ['key'] as const,
  registers,
});

export const partnerThrottled = new Counter({
  name: 'shop_partner_throttled_total',
  help: 'Partner operations refused because the API key’s cost bucket held too little (THROTTLED), by API key id.',
  labelNames: ['key'] as const,
  registers,
});

export const productCacheLookups = new Counter({
  name: 'shop_product_cache_lookups_total',
  help: 'Products looked up in the product cache, by outcome: hit, miss, or error (the cache did not answer; read from the catalog).',
  labelNames: ['outcome'] as const,
  registers,
});

export const clientOperations = new Counter({
  name: 'shop_router_client_operations_total',
  help: 'Operations the router answered, by client name and version (apollographql-client-* headers) and outcome (ok: no errors).',
  labelNames: ['client_name', 'client_version', 'outcome'] as const,
  registers,
});

export const clientErrors = new Counter({
  name: 'shop_router_client_errors_total',
  help: 'Errors in the router’s responses, by client name and version and registry code.',
  labelNames: ['client_name', 'client_version', 'code'] as const,
  registers,
});

export const clientCost = new Counter({
  name: 'shop_router_client_cost_total',
  help: 'Cost the router’s responses spent (extensions.cost.actualQueryCost), by client name and version.',
  labelNames: ['client_name', 'client_version'] as const,
  registers,
});

/**
 * Counts what each client (as it names itself) asks of the router: operations, errors by
 * code, and the cost spent. Runs after the guard, whose `extensions.cost` it reads.
 */
export function clientMetricsPlugin<C extends BaseContext>(): ApolloServerPlugin<C> {
  return {
    async requestDidStart({ request }) {
      const labels = clientLabels(request.http?.headers.get('apollographql-client-name') ?? undefined, request.http?.headers.get('apollographql-client-version') ?? undefined);
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const { errors, extensions } = response.body.singleResult;
          clientOperations.inc({ ...labels, outcome: errors?.length ? 'error' : 'ok' });
          for (const error of errors ?? []) {
            const code = error.extensions?.code;
            clientErrors.inc({ ...labels, code: isErrorCode(code) ? code : 'INTERNAL_SERVER_ERROR' });
          }
          const spent = (extensions?.cost as { actualQueryCost?: unknown } | undefined)?.actualQueryCost;
          if (typeof spent === 'number' && spent > 0) clientCost.inc(labels, spent);
        },
      };
    },
  };
}

/** Counts and times every GraphQL operation a service answers, and the codes of its errors. */
export function graphqlMetricsPlugin<C extends BaseContext>(service: string): ApolloServerPlugin<C> {
  return {
    async requestDidStart() {
      const started = process.hrtime.bigint();
      let operation = 'unknown';
      return {
        async didResolveOperation({ operation: resolved }) {
          operation = resolved?.operation ?? 'unknown';
        },
        async didEncounterErrors({ errors }) {
          for (const error of errors) {
            const code = error.extensions?.code;
            graphqlErrors.inc({ service, code: isErrorCode(code) ? code : 'INTERNAL_SERVER_ERROR' });
          }
        },
        async willSendResponse({ response }) {
          const body = response.body;
          const failed = body.kind === 'single' ? (body.singleResult.errors?.length ?? 0) > 0 : false;
          graphqlRequests.inc({ service, operation, outcome: failed ? 'error' : 'ok' });
          graphqlDuration.observe({ service, operation }, Number(process.hrtime.bigint() - started) / 1e9);
        },
      };
    },
  };
}

/** Prometheus text and its content type, as `/metrics` serves it. */
export type MetricsText = { contentType: string; body: string };

let metricsSource = async (): Promise<MetricsText> => ({ contentType: metricsRegistry.contentType, body: await metricsRegistry.metrics() });

/**
 * Where `/metrics` reads from; default this process's registry. A router worker reads the
 * whole router's, summed over its workers by the cluster primary (router/workers.ts).
 */
export function serveMetricsFrom(source: () => Promise<MetricsText>): void {
  metricsSource = source;
}

/** The Prometheus text of every metric of the process (or of its cluster, see `serveMetricsFrom`). */
export async function metricsText(): Promise<MetricsText> {
  return metricsSource();
}
