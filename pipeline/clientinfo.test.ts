import { clientInfo, parsePeer, setClientInfo } from './clientinfo';
import { tracesOf } from './testing/factories';

describe('client info', () => {
  it('parses the peer forms grpc-js and node give', () => {
    expect(parsePeer('ipv4:127.0.0.1:5000')).toEqual({ address: '127.0.0.1', port: 5000 });
    expect(parsePeer('ipv6:[::1]:5001')).toEqual({ address: '::1', port: 5001 });
    expect(parsePeer('::ffff:10.1.2.3', 80)).toEqual({ address: '10.1.2.3', port: 80 });
    expect(parsePeer('10.0.0.9')).toEqual({ address: '10.0.0.9' });
    expect(parsePeer(undefined)).toBeUndefined();
  });

  it('travels beside the batch object it was set on', () => {
    const a = tracesOf('a');
    setClientInfo(a, { address: '10.0.0.1' });
    expect(clientInfo(a)).toEqual({ address: '10.0.0.1' });
    expect(clientInfo(tracesOf('b'))).toBeUndefined();
  });
});
