import type { IncomingMessage } from 'node:http';

/**
 * The address of the client a request comes from. Without trusted proxies (`hops` 0) it is
 * the socket's peer. Behind `hops` proxies that each append the address they received
 * from to `X-Forwarded-For` (load balancers do), it is the entry `hops` places from the
 * right: entries further left were written by the client itself and prove nothing. A
 * header with fewer entries than that was not written by the proxies: the peer is used.
 */
export function clientAddressOf(req: Pick<IncomingMessage, 'headers' | 'socket'>, hops: number): string | undefined {
  const peer = req.socket.remoteAddress;
  if (hops <= 0) return peer;
  const header = req.headers['x-forwarded-for'];
  const entries = (Array.isArray(header) ? header.join(',') : (header ?? ''))
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  return entries.length >= hops ? entries[entries.length - hops] : peer;
}
