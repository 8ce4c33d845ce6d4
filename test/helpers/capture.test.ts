import net from 'node:net';
import { captureAvailable, captureLoopback } from './capture';
import { freePort } from './ports';
import { tsharkAvailable, tsharkFields } from './tshark';

const run = captureAvailable() && tsharkAvailable() ? it : it.skip;
if (!captureAvailable()) console.warn('skipping loopback capture test: needs root and tcpdump');

describe('capture and tshark helpers', () => {
  run('records loopback traffic that tshark dissects', async () => {
    const port = await freePort();
    const server = net.createServer((s) => s.on('data', (d) => s.end(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`)));
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const cap = await captureLoopback(`tcp port ${port}`);
    try {
      await new Promise<void>((resolve, reject) => {
        const c = net.connect(port, '127.0.0.1', () => c.write(`GET /hello HTTP/1.1\r\nHost: x\r\n\r\n`));
        c.on('data', () => undefined);
        c.on('end', () => resolve());
        c.on('error', reject);
      });
    } finally {
      server.close();
    }
    const file = await cap.stop();
    const rows = await tsharkFields(file, ['http.request.method', 'http.request.uri', 'http.response.code'], { filter: 'http', decodeAs: [`tcp.port==${port},http`] });
    expect(rows.map((r) => [r['http.request.method'], r['http.request.uri'], r['http.response.code']])).toEqual([
      [['GET'], ['/hello'], []],
      [[], [], ['200']],
    ]);
  });
});
