/**
 * Jest runs TypeScript through ts-jest, transpiling each file alone (`isolatedModules` in tsconfig):
 * type checking is `npm run typecheck`, which `npm test` runs first.
 */
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  testMatch: ['**/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/.data/'],
  testTimeout: 60000,
  // A store or server a failing test left open must not hold CI until its time limit.
  forceExit: true,
};
