import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { silentLogger } from '../../platform/logger';
import { testDeps } from '../../platform/testing';
import { documentId } from '../../schema/manifest';
import { memoryApqStore } from '../apq-store';
import { PersistedDocuments, type ClientIdentity } from '../documents';
import { typeDefs } from '../../subgraphs/inventory/subgraph';

const LISTED = 'query Listed { __typename }';
const OTHER = 'query Other { __typename }';
const persisted = (text: string) => ({ persistedQuery: { version: 1, sha256Hash: documentId(text) } });

function manifestFile(texts: string[]): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'manifest-')), 'manifest.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      format: 'apollo-persisted-query-manifest',
      version: 1,
      operations: texts.map((body) => ({ id: documentId(body), name: /query (\w+)/.exec(body)![1], type: 'query', body })),
    }),
  );
  return file;
}

describe('the document step decides what runs', () => {
  const ios: ClientIdentity = { name: 'ios', version: '1.0' };
  const web: ClientIdentity = { name: 'web' };
  const open = (apq: boolean) =>
    PersistedDocuments.open({ manifestPath: manifestFile([LISTED]), safelistClients: ['ios'], apq: apq ? memoryApqStore() : null, logger: silentLogger() });

  /** What `resolve` answers: the source and text it decided, the refusal's code, or `as sent`. */
  async function decide(documents: PersistedDocuments, request: { query?: string; extensions?: unknown }, client: ClientIdentity) {
    try {
      const resolved = await documents.resolve(request, client);
      if (!resolved) return 'as sent';
      await resolved.register?.();
      return `${resolved.source}: ${resolved.query}`;
    } catch (error) {
      return (error as { code: string }).code;
    }
  }

  it('for every kind of request, client and APQ setting', async () => {
    const withApq = await open(true);
    const withoutApq = await open(false);
    const cases: [string, { query?: string; extensions?: unknown }, ClientIdentity, string, string][] = [
      // request, client, with APQ, without APQ
      ['free text', { query: OTHER }, web, 'as sent', 'as sent'],
      ['free text, no client name', { query: OTHER }, {}, 'as sent', 'as sent'],
      ['free text, safelisted', { query: OTHER }, ios, 'PERSISTED_QUERY_NOT_IN_LIST', 'PERSISTED_QUERY_NOT_IN_LIST'],
      ['a manifest body as text, safelisted', { query: LISTED }, ios, `manifest: ${LISTED}`, `manifest: ${LISTED}`],
      ['no query at all, safelisted', {}, ios, 'PERSISTED_QUERY_NOT_IN_LIST', 'PERSISTED_QUERY_NOT_IN_LIST'],
      ['manifest id', { extensions: persisted(LISTED) }, ios, `manifest: ${LISTED}`, `manifest: ${LISTED}`],
      ['manifest id, other client', { extensions: persisted(LISTED) }, web, `manifest: ${LISTED}`, `manifest: ${LISTED}`],
      ['unknown id, safelisted', { extensions: persisted(OTHER) }, ios, 'PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_NOT_FOUND'],
      ['unknown id', { extensions: persisted(OTHER) }, web, 'PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_NOT_SUPPORTED'],
      ['id and text', { query: OTHER, extensions: persisted(OTHER) }, web, `text: ${OTHER}`, 'PERSISTED_QUERY_NOT_SUPPORTED'],
      ['the id registered', { extensions: persisted(OTHER) }, web, `apq: ${OTHER}`, 'PERSISTED_QUERY_NOT_SUPPORTED'],
      ['the id registered, safelisted', { extensions: persisted(OTHER) }, ios, 'PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_NOT_FOUND'],
      ['id and text, safelisted', { query: OTHER, extensions: persisted(OTHER) }, ios, 'PERSISTED_QUERY_NOT_IN_LIST', 'PERSISTED_QUERY_NOT_IN_LIST'],
      ['id and manifest text, safelisted', { query: LISTED, extensions: persisted(LISTED) }, ios, `manifest: ${LISTED}`, `manifest: ${LISTED}`],
      ['id of another text', { query: OTHER, extensions: persisted(LISTED) }, web, 'PERSISTED_QUERY_HASH_MISMATCH', 'PERSISTED_QUERY_HASH_MISMATCH'],
      ['version 2', { extensions: { persistedQuery: { version: 2, sha256Hash: documentId(LISTED) } } }, web, 'BAD_REQUEST', 'BAD_REQUEST'],
      ['an id that is no SHA-256', { extensions: { persistedQuery: { version: 1, sha256Hash: 'abc' } } }, web, 'BAD_REQUEST', 'BAD_REQUEST'],
    ];
    const answers = [];
    for (const [what, request, client] of cases) {
      answers.push([what, await decide(withApq, request, client), await decide(withoutApq, request, client)]);
    }
    expect(answers).toEqual(cases.map(([what, , , apq, noApq]) => [what, apq, noApq]));
  });
});

describe('the router program', () => {
  it('reloads the manifest on SIGHUP and keeps serving', async () => {
    const deps = await testDeps('pglite');
    const composed = composeServices([{ name: 'inventory', url: 'http://127.0.0.1:9/graphql', typeDefs }]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'router-'));
    const supergraph = path.join(dir, 'supergraph.graphql');
    fs.writeFileSync(supergraph, composed.supergraphSdl!);
    const manifest = manifestFile([LISTED]);
    // `node --import tsx`, so the signal reaches the router itself rather than a launcher.
    const child = spawn(process.execPath, ['--import', 'tsx', 'router/main.ts', '--supergraph', supergraph, '--port', '0'], {
      cwd: path.resolve(__dirname, '../..'),
      env: { ...process.env, NODE_OPTIONS: '', LOG_PRETTY: 'false', NODE_ENV: 'test', JWT_PUBLIC_KEY: deps.config.JWT_PUBLIC_KEY!, PERSISTED_QUERIES_PATH: manifest },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const logged = async (pattern: RegExp) => {
      for (let i = 0; i < 600 && !pattern.test(output); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      if (!pattern.test(output)) throw new Error(`not logged: ${pattern}\n${output}`);
    };
    try {
      await logged(/"url":"[^"]+".*"msg":"listening"/);
      const url = /"url":"([^"]+)".*"msg":"listening"/.exec(output)![1]!;
      const run = async (text: string) => {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'apollographql-client-name': 'ios' }, body: JSON.stringify({ extensions: persisted(text) }) });
        return (await res.json()) as { data?: unknown; errors?: { extensions: { code: string } }[] };
      };
      expect((await run(OTHER)).errors?.[0]?.extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
      fs.copyFileSync(manifestFile([LISTED, OTHER]), manifest);
      child.kill('SIGHUP');
      await logged(/"operations":2,"msg":"persisted query manifest reloaded"/);
      expect(await run(OTHER)).toMatchObject({ data: { __typename: 'Query' } });
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await deps.release();
    }
  });
});
