import { clientAddressOf } from '../client-address';

const request = (forwardedFor: string | string[] | undefined, peer = '10.0.0.9') => ({
  headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor },
  socket: { remoteAddress: peer } as never,
});

describe("a client's address", () => {
  it('is the socket peer when no proxy is trusted, whatever the client writes in X-Forwarded-For', () => {
    expect(clientAddressOf(request('1.2.3.4'), 0)).toBe('10.0.0.9');
  });

  it('behind one proxy is the entry it appended, not what the client wrote before it', () => {
    expect(clientAddressOf(request('6.6.6.6, 203.0.113.7'), 1)).toBe('203.0.113.7');
    expect(clientAddressOf(request('203.0.113.7'), 1)).toBe('203.0.113.7');
  });

  it('behind two proxies is the second entry from the right, headers split over lines included', () => {
    expect(clientAddressOf(request(['6.6.6.6, 203.0.113.7', '10.0.0.2']), 2)).toBe('203.0.113.7');
  });

  it('is the peer when the header is missing or shorter than the proxies would make it', () => {
    expect(clientAddressOf(request(undefined), 1)).toBe('10.0.0.9');
    expect(clientAddressOf(request('203.0.113.7'), 2)).toBe('10.0.0.9');
  });
});
