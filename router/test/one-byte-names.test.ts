import { randomBytes } from 'node:crypto';
import v8 from 'node:v8';
import { composeServices } from '@apollo/composition';
import { Supergraph } from '@apollo/federation-internals';
import { parse } from 'graphql';
import { silentLogger } from '../../platform/logger';
import { RouterExecutor } from '../executor';

/** Whether V8 holds `text` two bytes a character: the serialiser's tag for it, after any padding. */
function twoByte(text: string): boolean {
  const bytes = v8.serialize(text);
  let at = 2; // after the header: 0xff and the format version
  while (bytes[at] === 0) at++;
  return bytes[at] === 0x63; // 'c', a two-byte string; a one-byte one is '"'
}

/** The copy of `name` V8's string table hands out, as it does for a key of a subgraph's answer. */
const tableCopy = (name: string): string => Object.keys(JSON.parse(`{"${name}":0}`) as object)[0]!;

const PLACEHOLDERS = ['ParcelType', 'parcelsField', 'weightField', 'labelField'] as const;

/** A small supergraph, composed once; each test renames its names to ones no code in this process has seen. */
const composed = (() => {
  const result = composeServices([
    {
      name: 'alpha',
      url: 'http://alpha.invalid/graphql',
      typeDefs: parse(`
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Query { parcelsField: [ParcelType] }
        type ParcelType @key(fields: "id") { id: ID! weightField: Int }
      `),
    },
    {
      name: 'beta',
      url: 'http://beta.invalid/graphql',
      typeDefs: parse(`
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type ParcelType @key(fields: "id") { id: ID! labelField: String }
      `),
    },
  ]);
  if (result.errors) throw new Error(result.errors.map((e) => e.message).join('\n'));
  return result.supergraphSdl;
})();

function freshSupergraph(): { sdl: string; names: string[] } {
  const tag = randomBytes(6).toString('hex');
  const names = PLACEHOLDERS.map((p) => `${p}_${tag}`);
  return { sdl: composed.replace(new RegExp(PLACEHOLDERS.join('|'), 'g'), (p) => `${p}_${tag}`), names };
}

/** Whether this V8 joins internalized slices of one-byte text into a two-byte string. */
function joinGoesTwoByte(): boolean {
  const tag = randomBytes(6).toString('hex');
  const text = `FIELD_DEFINITION_${tag} INPUT_FIELD_DEFINITION_${tag} ${'x'.repeat(64)}`;
  const first = text.slice(0, text.indexOf(' '));
  const second = text.slice(first.length + 1, text.indexOf(' ', first.length + 1));
  const keys: Record<string, number> = {};
  keys[first] = 1;
  keys[second] = 2;
  return twoByte([first, second].join(' | '));
}

describe('the names of a schema in V8’s string table', () => {
  it('are the one-byte copies once the router’s executor is built, so its answers serialise one byte a character', () => {
    const { sdl, names } = freshSupergraph();
    new RouterExecutor({ supergraphSdl: sdl, deduplicate: false, logger: silentLogger() });
    expect(names.map(tableCopy).filter(twoByte)).toEqual([]);
    expect(twoByte(JSON.stringify({ [tableCopy(names[1]!)]: [{ [tableCopy(names[2]!)]: 1, [tableCopy(names[3]!)]: 'a' }] }))).toBe(false);
  });

  it('come out two-byte from federation-internals alone exactly where V8 joins such slices two-byte', () => {
    // What the executor guards against: on Node 20 (V8 11) the join gives two bytes, on Node 24 it does not.
    const { sdl, names } = freshSupergraph();
    Supergraph.build(sdl).apiSchema().toGraphQLJSSchema();
    expect(names.map(tableCopy).some(twoByte)).toBe(joinGoesTwoByte());
  });
});
