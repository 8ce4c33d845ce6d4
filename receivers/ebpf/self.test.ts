/**
 * Finding the agent's own sockets in /proc: the connections it opened and
 * the ports it listens on, not the connections it accepted.
 */
import net from 'node:net';
import { ownSockets, parseTcpTable, type OwnSockets } from './self';

const linux = process.platform === 'linux';

describe('the agent’s own sockets', () => {
  it('parses /proc/net/tcp lines of the given inodes only, by state', () => {
    const text = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0',
      '   1: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 20 4 30 10 -1',
      '   2: 0100007F:C000 0100007F:0050 02 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 20 4 30 10 -1',
      '   3: 0100007F:D000 0100007F:0050 06 00000000:00000000 00:00000000 00000000     0        0 1004 1 0000000000000000 20 4 30 10 -1',
      '   4: 0100007F:E000 0100007F:0050 01 00000000:00000000 00:00000000 00000000     0        0 9999 1 0000000000000000 20 4 30 10 -1',
    ].join('\n');
    const out: OwnSockets = { connected: [], listening: [] };
    parseTcpTable(text, new Map([['1001', 3], ['1002', 4], ['1003', 5], ['1004', 6]]), out);
    expect(out).toEqual({ listening: [{ fd: 3, port: 0x1f90 }], connected: [{ fd: 4, port: 0xa1b2 }, { fd: 5, port: 0xc000 }] });
  });

  it('ignores malformed, truncated and random lines', () => {
    const out: OwnSockets = { connected: [], listening: [] };
    const inodes = new Map([['1', 1], ['2', 2]]);
    const junk = ['header', '0: zz:zz 00:00 0A a b c d 1', '0: 0100007F 00 01', '0: 0100007F:FFFFF 0:0 01 a b c d e 2', '', '\u0000\u0001'];
    let seed = 7;
    for (let i = 0; i < 200; i++) {
      let line = '';
      for (let j = 0; j < 60; j++) line += String.fromCharCode(32 + ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 90));
      junk.push(line);
    }
    expect(() => parseTcpTable(junk.join('\n'), inodes, out)).not.toThrow();
    expect(out).toEqual({ connected: [], listening: [] });
  });

  (linux ? it : it.skip)('finds this process’s listening port and the connection it opened, not the one it accepted', async () => {
    const server = net.createServer(() => {});
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const client = net.connect(port, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    await accepted;
    try {
      const own = ownSockets();
      expect(own.listening.map((s) => s.port)).toContain(port);
      expect(own.connected.map((s) => s.port)).toContain(client.localPort);
      expect(own.connected.map((s) => s.port)).not.toContain(port);
      const fds = new Set([...own.connected, ...own.listening].map((s) => s.fd));
      expect(fds.size).toBe(own.connected.length + own.listening.length);
    } finally {
      client.destroy();
      server.close();
    }
  });
});
