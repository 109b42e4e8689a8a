import { execFileSync } from 'node:child_process';

/**
 * The PostgreSQL driver builds a `Query` (a Promise) for every statement and a `Result` (an
 * Array) for every answer. Both classes declared `Symbol.species` with a static getter, and
 * V8 then cannot keep optimized code for their constructors: each compile is dropped when a
 * map it depends on changes, and tried again, for the life of the process. Under checkout
 * load the compiler spent its time on them in every process that uses PostgreSQL, and they
 * ran unoptimized. `patches/` declares the same species as data properties.
 *
 * Checked in a Node process of its own with V8's test syntax (`%GetOptimizationStatus`),
 * since jest loads modules through a loader of its own.
 */
const PROBE = `
const path = require('node:path');
const src = path.dirname(require.resolve('postgres'));
const Result = require(path.join(src, 'result.js'));
const { Query } = require(path.join(src, 'query.js'));
const handler = Object.assign(() => {}, { debug: false });
const buildResult = () => { const r = new Result(); r.count = 1; r.push({ n: 1 }); return r; };
const buildQuery = () => new Query([''], [], handler, null);
const OPTIMIZED = 1 << 4;
const status = {};
for (const [ctor, build] of [[Result, buildResult], [Query, buildQuery]]) {
  for (let i = 0; i < 1000; i++) build();
  %PrepareFunctionForOptimization(ctor);
  build();
  %OptimizeFunctionOnNextCall(ctor);
  build();
  for (let i = 0; i < 1000; i++) build();
  status[ctor.name] = (%GetOptimizationStatus(ctor) & OPTIMIZED) !== 0;
}
const result = buildResult();
const query = buildQuery();
const then = query.then(() => {});
process.stdout.write(JSON.stringify({
  optimized: status,
  resultMapsToArray: result.map((row) => row).constructor === Array && result.filter(Boolean).constructor === Array,
  queryThenIsPromise: then.constructor === Promise && !(then instanceof Query),
}));
`;

describe('the PostgreSQL driver', () => {
  it('keeps optimized constructors for its queries and results, with the same species', () => {
    const answer = JSON.parse(
      execFileSync(process.execPath, ['--allow-natives-syntax', '-e', PROBE], { cwd: process.cwd(), encoding: 'utf8' }),
    );
    expect(answer).toEqual({ optimized: { Result: true, Query: true }, resultMapsToArray: true, queryThenIsPromise: true });
  });
});
