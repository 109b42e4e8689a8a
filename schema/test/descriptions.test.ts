import fs from 'node:fs';
import path from 'node:path';
import { Kind, parse, visit, type ASTNode } from 'graphql';
import { SUBGRAPHS } from '../subgraphs';

const ROOT = path.resolve(__dirname, '../..');

/** Every type, field, argument, input field and enum value a subgraph declares, without a description. */
function undocumented(sdl: string): string[] {
  const missing: string[] = [];
  const trail: string[] = [];
  const named = (node: ASTNode) => ('name' in node && node.name ? node.name.value : '?');
  const check = (node: ASTNode & { description?: { value: string } | undefined }) => {
    if (!node.description?.value.trim()) missing.push([...trail, named(node)].join('.'));
  };
  visit(parse(sdl), {
    enter(node) {
      switch (node.kind) {
        case Kind.OBJECT_TYPE_DEFINITION:
        case Kind.INPUT_OBJECT_TYPE_DEFINITION:
        case Kind.ENUM_TYPE_DEFINITION:
        case Kind.INTERFACE_TYPE_DEFINITION:
        case Kind.UNION_TYPE_DEFINITION:
        case Kind.SCALAR_TYPE_DEFINITION:
          check(node);
          trail.push(node.name.value);
          break;
        case Kind.OBJECT_TYPE_EXTENSION:
        case Kind.INPUT_OBJECT_TYPE_EXTENSION:
          trail.push(node.name.value);
          break;
        case Kind.FIELD_DEFINITION:
          check(node);
          trail.push(node.name.value);
          break;
        case Kind.INPUT_VALUE_DEFINITION:
        case Kind.ENUM_VALUE_DEFINITION:
          check(node);
          break;
      }
    },
    leave(node) {
      if (
        node.kind === Kind.OBJECT_TYPE_DEFINITION ||
        node.kind === Kind.INPUT_OBJECT_TYPE_DEFINITION ||
        node.kind === Kind.ENUM_TYPE_DEFINITION ||
        node.kind === Kind.INTERFACE_TYPE_DEFINITION ||
        node.kind === Kind.UNION_TYPE_DEFINITION ||
        node.kind === Kind.SCALAR_TYPE_DEFINITION ||
        node.kind === Kind.OBJECT_TYPE_EXTENSION ||
        node.kind === Kind.INPUT_OBJECT_TYPE_EXTENSION ||
        node.kind === Kind.FIELD_DEFINITION
      ) {
        trail.pop();
      }
    },
  });
  return missing;
}

describe('the graph documents itself', () => {
  it.each(SUBGRAPHS.map((s) => s.name))('%s describes every type, field, argument and enum value', (name) => {
    const sdl = fs.readFileSync(path.join(ROOT, 'subgraphs', name, 'schema.graphql'), 'utf8');
    expect(undocumented(sdl)).toEqual([]);
  });

  it('notices what is missing', () => {
    expect(undocumented('"""A."""\ntype A { b(c: Int): Int\n """D."""\n d: Int }')).toEqual(['A.b', 'A.b.c']);
  });
});
