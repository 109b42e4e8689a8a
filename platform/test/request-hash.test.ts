import { execFileSync } from 'node:child_process';

/**
 * Apollo Server hashes the query text of every request (its document cache's key) with
 * `@apollo/utils.createhash`, which looked `crypto` up through `module.require` on every
 * call: a walk through Node's module loader and through tsx's hooks, which every process
 * of the shop runs under, about 2 % of the router's and the order subgraph's CPU under
 * checkout load. `patches/` makes it look `crypto` up once. Checked in a Node process of
 * its own, since jest loads modules through a loader of its own.
 */
const PROBE = `
const Module = require('node:module');
const server = require.resolve('@apollo/server');
const { createHash } = require(require.resolve('@apollo/utils.createhash', { paths: [server] }));
const expected = require('node:crypto').createHash('sha256').update('{ me { id } }').digest('hex');
const first = createHash('sha256').update('{ me { id } }').digest('hex');
let loads = 0;
const original = Module.prototype.require;
Module.prototype.require = function (...args) { loads += 1; return original.apply(this, args); };
const again = [1, 2, 3].map(() => createHash('sha256').update('{ me { id } }').digest('hex'));
Module.prototype.require = original;
process.stdout.write(JSON.stringify({ loads, same: [first, ...again].every((hash) => hash === expected) }));
`;

describe("Apollo Server's request hash", () => {
  it('hashes as node:crypto does, without a module lookup per call', () => {
    const answer = JSON.parse(execFileSync(process.execPath, ['-e', PROBE], { cwd: process.cwd(), encoding: 'utf8' }));
    expect(answer).toEqual({ loads: 0, same: true });
  });
});
