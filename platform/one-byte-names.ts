import { parse, visit, type DocumentNode } from 'graphql';

/**
 * A schema's names kept as one-byte strings in V8's string table, so that every response
 * that holds them is serialised and written one byte a character.
 *
 * V8 hands out one copy of each internalized string: every property key, and every short
 * string `JSON.parse` reads, is the copy first put in the table. Node 20's V8 sometimes
 * gives `Array.prototype.join` a two-byte result when it joins internalized slices of a
 * one-byte string, ASCII though they are (`[a, b].join(' | ')` after `o[a] = o[b] = 1`;
 * Node 24 does not). `@apollo/federation-internals` prints schemas with such joins and parses
 * them again, so the names it builds come out two-byte and are the first copies in the
 * table: measured on the router over The Guild's supergraph, 26 of its 70 names, over the
 * shop's, 188 of 293. From then on the keys of every subgraph answer, the response built
 * from them and the text Apollo Server serialises are two-byte, and each response is
 * flattened, measured and encoded twice as wide on its way to the socket (0.8 ms for
 * `Buffer.byteLength` of The Guild's 87.6 KB answer against 0.03 ms one-byte).
 *
 * Called before a schema library builds anything from `source`, this puts a one-byte copy
 * of each of its names in the table first; the table then hands that copy to every later
 * use, two-byte slices included. The copies are kept for the life of the process (a
 * schema's names are few), since the table forgets strings nothing holds.
 */
export function keepNamesOneByte(source: string | DocumentNode): void {
  const document = typeof source === 'string' ? parse(source, { noLocation: true }) : source;
  visit(document, {
    Name(node) {
      // A property key is internalized: a name parsed from one-byte text goes in one-byte.
      KEPT[node.value] = true;
    },
  });
}

const KEPT: Record<string, true> = Object.create(null) as Record<string, true>;
