import { loadConfig } from '../../platform/config';
import { generateTokenPems } from '../../platform/auth';
import { edgeSettingsFrom } from '../router';

const production = { NODE_ENV: 'production', JWT_PUBLIC_KEY: generateTokenPems().publicKey };

describe('the edge settings the configuration sets', () => {
  it('defaults to the documented limits, with introspection and suggestions on outside production', () => {
    expect(edgeSettingsFrom(loadConfig({}))).toEqual({
      limits: { depth: 15, aliases: 30, rootFields: 20, directives: 50, tokens: 5000 },
      maxCost: 5000,
      defaultListSize: 10,
      introspection: true,
      hideSchemaDetails: false,
      documents: {
        manifestPath: 'schema/operations/manifest.json',
        safelistClients: ['ios', 'android'],
        apq: true,
        apqTtlSeconds: 86400,
        apqCacheBytes: 16 * 1024 * 1024,
        redisKeyPrefix: 'shop',
        maxAgeSeconds: 60,
      },
      trustedProxyHops: 0,
    });
    expect(edgeSettingsFrom(loadConfig({ TRUSTED_PROXY_HOPS: '1' })).trustedProxyHops).toBe(1);
  });

  it('in production answers no introspection unless INTROSPECTION=true, and hides schema details always', () => {
    expect(edgeSettingsFrom(loadConfig(production))).toMatchObject({ introspection: false, hideSchemaDetails: true });
    expect(edgeSettingsFrom(loadConfig({ ...production, INTROSPECTION: 'true' }))).toMatchObject({ introspection: true, hideSchemaDetails: true });
  });

  it('takes every limit from its variable', () => {
    const settings = edgeSettingsFrom(
      loadConfig({ MAX_DEPTH: '8', MAX_ALIASES: '5', MAX_ROOT_FIELDS: '3', MAX_DIRECTIVES: '4', MAX_TOKENS: '900', MAX_OPERATION_COST: '700', COST_DEFAULT_LIST_SIZE: '20' }),
    );
    expect(settings).toMatchObject({ limits: { depth: 8, aliases: 5, rootFields: 3, directives: 4, tokens: 900 }, maxCost: 700, defaultListSize: 20 });
  });

  it('takes the persisted-operation settings from their variables', () => {
    const settings = edgeSettingsFrom(
      loadConfig({
        PERSISTED_QUERIES_PATH: '/etc/shop/manifest.json',
        SAFELIST_CLIENTS: 'ios, android ,kiosk',
        APQ: 'false',
        APQ_TTL_SECONDS: '600',
        REDIS_URL: 'redis://cache:6379',
        EVENT_STREAM_PREFIX: 'eu',
        PERSISTED_QUERY_MAX_AGE_SECONDS: '0',
      }),
    );
    expect(settings.documents).toMatchObject({
      manifestPath: '/etc/shop/manifest.json',
      safelistClients: ['ios', 'android', 'kiosk'],
      apq: false,
      apqTtlSeconds: 600,
      redisUrl: 'redis://cache:6379',
      redisKeyPrefix: 'eu',
      maxAgeSeconds: 0,
    });
    expect(edgeSettingsFrom(loadConfig({ SAFELIST_CLIENTS: '' })).documents?.safelistClients).toEqual([]);
  });
});
