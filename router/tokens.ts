import { Lexer, Source, TokenKind } from 'graphql';

/**
 * The lexical tokens of a document, counted as graphql-js's `maxTokens` counts them
 * (comments excluded), by the lexer alone: no syntax tree is built, so counting a
 * document refused for its size costs one linear pass over its text. A text that does
 * not lex counts the tokens before the fault.
 */
export function tokenCount(text: string): number {
  const lexer = new Lexer(new Source(text));
  let count = 0;
  try {
    while (lexer.advance().kind !== TokenKind.EOF) count += 1;
  } catch {
    // The count so far is what the parser would have seen.
  }
  return count;
}
