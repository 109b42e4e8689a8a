/**
 * Watches live updates through the router over graphql-ws, printing each payload:
 *
 *   npx tsx examples/watch.ts stock <productId>
 *   TOKEN=<accessToken> npx tsx examples/watch.ts order <orderId>
 *
 * ROUTER_URL defaults to ws://localhost:4000/graphql. Stop with Ctrl-C.
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const QUERIES = {
  stock: `subscription ($id: ID!) {
    stockChanged(productId: $id) { id name availableQuantity inStock price { formatted } }
  }`,
  order: `subscription ($id: ID!) {
    orderUpdated(orderId: $id) { id status failureReason total { formatted } payment { status } }
  }`,
} as const;

const [kind, id] = process.argv.slice(2);
if ((kind !== 'stock' && kind !== 'order') || !id) {
  process.stderr.write('usage: npx tsx examples/watch.ts stock <productId> | order <orderId>\n');
  process.exit(2);
}

/** GraphQL errors as JSON; a closed socket as its code (4403: token refused, 4401: token expired). */
function describe(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && 'reason' in error) {
    const { code, reason } = error as { code: number; reason: string };
    const why = code === 4403 ? 'the access token was refused' : code === 4401 ? 'the access token expired' : reason;
    return `connection closed with ${code}${why ? ` (${why})` : ''}`;
  }
  return JSON.stringify(error);
}

const client = createClient({
  url: process.env.ROUTER_URL ?? 'ws://localhost:4000/graphql',
  webSocketImpl: WebSocket,
  connectionParams: process.env.TOKEN ? { authorization: `Bearer ${process.env.TOKEN}` } : {},
  lazy: false,
  retryAttempts: 0,
  // A refused connection is reported once, by the subscription below.
  onNonLazyError: () => {},
});

const stop = client.subscribe(
  { query: QUERIES[kind], variables: { id } },
  {
    next: (payload) => process.stdout.write(`${new Date().toISOString()} ${JSON.stringify(payload)}\n`),
    error: (error) => {
      process.stderr.write(`subscription failed: ${describe(error)}\n`);
      process.exit(1);
    },
    complete: () => process.exit(0),
  },
);
process.stdout.write(`watching ${kind} ${id}; Ctrl-C to stop\n`);
process.on('SIGINT', () => {
  stop();
  void client.dispose();
});
