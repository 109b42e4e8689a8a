import { ApolloServer } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { silentLogger } from '../logger';
import { graphqlMetricsPlugin, metricsAccess, type MetricsAccess } from '../metrics';
import { startService, type RunningService } from '../server';
import { metricSample as sample } from '../testing';

const typeDefs = `type Query { hello: String!, broken: String!, forbidden: String! }`;
const resolvers = {
  Query: {
    hello: () => 'hi',
    broken: () => {
      throw new Error('database password in this message');
    },
    forbidden: () => {
      throw new GraphQLError('Not yours.', { extensions: { code: 'FORBIDDEN' } });
    },
  },
};

describe('/metrics', () => {
  const services: RunningService[] = [];
  const serve = async (service: string, metrics?: MetricsAccess) => {
    const running = await startService({
      apollo: new ApolloServer({ typeDefs, resolvers, plugins: [graphqlMetricsPlugin(service)], logger: silentLogger() }),
      logger: silentLogger(),
      host: '127.0.0.1',
      port: 0,
      stores: [],
      maxBodyBytes: 1024 * 1024,
      graceMs: 500,
      context: async () => ({}),
      ...(metrics ? { metrics } : {}),
    });
    services.push(running);
    return running;
  };
  const metricsUrl = (service: RunningService) => service.url.replace(/\/graphql$/, '/metrics');
  const query = (service: RunningService, q: string) =>
    fetch(service.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: q }) });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
  });

  it('counts operations by outcome, times them, and counts errors by registry code', async () => {
    const service = await serve('metrics-test');
    await query(service, '{ hello }');
    await query(service, '{ hello }');
    await query(service, '{ broken }');
    await query(service, '{ forbidden }');
    await query(service, '{ nope }');
    const res = await fetch(metricsUrl(service));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    const labels = { service: 'metrics-test', operation: 'query' };
    expect(sample(text, 'shop_graphql_requests_total', { ...labels, outcome: 'ok' })).toBe(2);
    expect(sample(text, 'shop_graphql_requests_total', { ...labels, outcome: 'error' })).toBe(2);
    // An invalid operation never resolves to a type.
    expect(sample(text, 'shop_graphql_requests_total', { service: 'metrics-test', operation: 'unknown', outcome: 'error' })).toBe(1);
    expect(sample(text, 'shop_graphql_request_duration_seconds_count', labels)).toBe(4);
    expect(sample(text, 'shop_graphql_errors_total', { service: 'metrics-test', code: 'FORBIDDEN' })).toBe(1);
    expect(sample(text, 'shop_graphql_errors_total', { service: 'metrics-test', code: 'INTERNAL_SERVER_ERROR' })).toBe(1);
    expect(sample(text, 'shop_graphql_errors_total', { service: 'metrics-test', code: 'GRAPHQL_VALIDATION_FAILED' })).toBe(1);
    // Node's own metrics come along; error messages never do.
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    expect(text).not.toContain('database password');
  });

  it('asks for the token when one is set, and is not served when disabled', async () => {
    const guarded = await serve('metrics-guarded', { enabled: true, token: 'a-long-metrics-token' });
    expect((await fetch(metricsUrl(guarded))).status).toBe(401);
    // As long as the right one, so the constant-time comparison itself decides.
    expect((await fetch(metricsUrl(guarded), { headers: { authorization: 'Bearer a-long-metrics-tokeN' } })).status).toBe(401);
    expect((await fetch(metricsUrl(guarded), { headers: { authorization: 'Bearer a-long-metrics-token' } })).status).toBe(200);

    const off = await serve('metrics-off', { enabled: false });
    expect((await fetch(metricsUrl(off))).status).toBe(404);
  });

  it('is open in development, needs METRICS_TOKEN in production, and is off there without one', () => {
    expect(metricsAccess({ NODE_ENV: 'development' })).toEqual({ enabled: true });
    expect(metricsAccess({ NODE_ENV: 'production', METRICS_TOKEN: 'a-long-metrics-token' })).toEqual({ enabled: true, token: 'a-long-metrics-token' });
    expect(metricsAccess({ NODE_ENV: 'production' })).toEqual({ enabled: false });
  });
});
