/**
 * A subgraph served over real HTTP as plainly as a GraphQL server can be (node:http and
 * graphql-js, nothing between), so that what the gateways receive is exactly what the
 * subgraph's schema answers. It can be told to fail the way real services fail.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { graphql, type GraphQLSchema } from 'graphql';

/**
 * How a subgraph misbehaves: `down` closes its port (connection refused), `http-500`
 * answers every request with a 500 and a text body, `invalid-json` answers 200 with a JSON
 * content type and a body cut short.
 */
export type Fault = 'down' | 'http-500' | 'invalid-json';

export class SubgraphServer {
  private fault: Fault | null = null;

  private constructor(
    readonly name: string,
    private readonly server: http.Server,
    readonly port: number,
  ) {}

  /** `http://127.0.0.1:<port>/graphql` */
  get url(): string {
    return `http://127.0.0.1:${this.port}/graphql`;
  }

  /** Serves `schema` on a free port of 127.0.0.1. */
  static async start(name: string, schema: GraphQLSchema): Promise<SubgraphServer> {
    let self: SubgraphServer | undefined;
    const server = http.createServer((req, res) => void self!.handle(schema, req, res));
    await listen(server, 0);
    self = new SubgraphServer(name, server, (server.address() as AddressInfo).port);
    return self;
  }

  /** Misbehaves as `fault` from now on, or answers normally again with null. */
  async setFault(fault: Fault | null): Promise<void> {
    if (fault === this.fault) return;
    if (this.fault === 'down') await listen(this.server, this.port);
    if (fault === 'down') {
      await this.close();
      // The gateways run in this process: a timer fires only after a poll of the event loop, in
      // which their pooled sockets read the close. Without it a gateway may still write to a
      // kept-alive socket and meet a hang-up instead of a refused connection.
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    this.fault = fault;
  }

  async stop(): Promise<void> {
    if (this.fault !== 'down') await this.close();
  }

  /** Stops listening and drops every connection, kept-alive ones too: the next connect is refused. */
  private close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    return closed;
  }

  private async handle(schema: GraphQLSchema, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (this.fault === 'http-500') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream exploded');
      return;
    }
    if (this.fault === 'invalid-json') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"data": {"_entities": [');
      return;
    }
    let request: { query: string; variables?: Record<string, unknown>; operationName?: string };
    try {
      request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof request;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"errors":[{"message":"The request body is not JSON."}]}');
      return;
    }
    const { query, variables, operationName } = request;
    const result = await graphql({ schema, source: query, variableValues: variables ?? null, operationName: operationName ?? null, contextValue: {} });
    const body = JSON.stringify(result);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  }
}

function listen(server: http.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}
