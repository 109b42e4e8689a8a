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
    });
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
});
