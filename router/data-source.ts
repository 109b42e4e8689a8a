import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { CLIENT_ADDRESS_HEADER } from '../platform/context';
import { ShopError } from '../platform/errors';
import type { Logger } from '../platform/logger';
import type { RouterContext } from './context';

/**
 * Fetches from one subgraph over Node's fetch (undici, connections kept alive),
 * forwarding the caller's token and request id. A subgraph that does not answer
 * becomes a SUBGRAPH_UNAVAILABLE error on the fields it owns, not a failed response.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<RouterContext> {
  constructor(
    readonly name: string,
    url: string,
    private readonly logger: Logger,
    private readonly onFetch: (name: string) => void,
  ) {
    super({ url, fetcher: globalThis.fetch as never });
  }

  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<RouterContext>): void {
    this.onFetch(this.name);
    const headers = request.http?.headers;
    if (!headers || !context || !('requestId' in context)) return;
    const ctx = context as RouterContext;
    // Every subgraph verifies the caller's token itself, and logs under the same request id.
    headers.set('x-request-id', ctx.requestId);
    if (ctx.headers.authorization) headers.set('authorization', ctx.headers.authorization);
    // Sign-in throttling counts per client address, and sessions list the device: the subgraphs
    // see the router, so it says who it serves. A client-sent x-client-address is never passed on.
    if (ctx.clientAddress) headers.set(CLIENT_ADDRESS_HEADER, ctx.clientAddress);
    if (ctx.headers['user-agent']) headers.set('user-agent', ctx.headers['user-agent']);
  }

  override async process(options: GraphQLDataSourceProcessOptions<RouterContext>): Promise<GatewayGraphQLResponse> {
    try {
      return await super.process(options);
    } catch (error) {
      if (error instanceof ShopError) throw error;
      const ctx = options.context as Partial<RouterContext> | undefined;
      (ctx?.logger ?? this.logger).error({ err: error, subgraph: this.name }, 'subgraph request failed');
      throw new ShopError('SUBGRAPH_UNAVAILABLE', `The ${this.name} service is unavailable.`, { serviceName: this.name });
    }
  }
}
