import { Registry } from '../../pipeline/registry';
import { Service } from '../../pipeline/service';
import { testExporter, testReceiver } from '../../pipeline/testing/factories';
import { freePort } from '../../test/helpers/ports';
import { factory } from './factory';

describe('health_check extension', () => {
  it('answers 200 while the pipelines run and 503 once shutdown begins', async () => {
    const port = await freePort();
    const svc = Service.fromSources(
      [
        `yaml:
receivers: { testrcv: {} }
exporters: { testexp: {} }
extensions: { health_check: { endpoint: "127.0.0.1:${port}" } }
service:
  extensions: [health_check]
  telemetry: { metrics: { level: none }, logs: { level: error } }
  pipelines: { traces: { receivers: [testrcv], exporters: [testexp] } }
`,
      ],
      new Registry([testReceiver, testExporter, factory]),
      {},
      {},
    );
    await svc.start();
    const ok = await fetch(`http://127.0.0.1:${port}/`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ status: 'Server available' });
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    const ext = svc.host?.getExtension('health_check') as unknown as { notReady(): void };
    ext.notReady();
    const down = await fetch(`http://127.0.0.1:${port}/`);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ status: 'Server not available' });
    await svc.shutdown();
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });

  it('checks its path', () => {
    expect(factory.config.parse({ path: 'health' }, ['extensions', 'health_check']).issues).toEqual([
      { path: ['extensions', 'health_check', 'path'], message: 'must start with "/", got "health"' },
    ]);
  });
});
