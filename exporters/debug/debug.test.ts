import { ComponentID } from '../../pipeline/component';
import { Logger } from '../../pipeline/logger';
import { Telemetry } from '../../pipeline/telemetry';
import { tracesOf } from '../../pipeline/testing/factories';
import { factory } from './factory';

function make(verbosity: string) {
  const lines: string[] = [];
  const cfg = factory.config.parseOrThrow({ verbosity, sampling_initial: 10 });
  const telemetry = new Telemetry('normal');
  const exp = factory.create(
    { id: new ComponentID('debug'), kind: 'exporter', logger: new Logger('info', {}, (l) => lines.push(l.split('\t').slice(2).join('\t'))), telemetry: telemetry.forComponent('exporter', 'debug') },
    cfg,
    new Set(['traces'] as const),
  );
  return { exp, lines, telemetry };
}

describe('debug exporter', () => {
  it('logs one summary line per batch at basic verbosity and counts items sent', async () => {
    const { exp, lines, telemetry } = make('basic');
    await exp.consumers.traces?.consume(tracesOf('a', 'b'));
    expect(lines).toEqual(['Traces: resource spans: 1, spans: 2']);
    expect(await telemetry.value('otelcol_exporter_sent_spans_total', { exporter: 'debug' })).toBe(2);
  });

  it('logs a line per span at normal verbosity and every field at detailed', async () => {
    const normal = make('normal');
    await normal.exp.consumers.traces?.consume(tracesOf('GET /a'));
    expect(normal.lines).toEqual(['Traces: resource spans: 1, spans: 1', 'GET /a 0af7651916cd43dd8448eb211c80319c b7ad6b7169203300 ']);
    const detailed = make('detailed');
    await detailed.exp.consumers.traces?.consume(tracesOf('GET /a'));
    expect(detailed.lines).toContain('    parent=- kind=SERVER start=2023-11-14T22:13:20.000000000Z end=2023-11-14T22:13:20.001000000Z status=UNSET ');
  });

  it('rejects an unknown verbosity with the valid values', () => {
    expect(factory.config.parse({ verbosity: 'loud' }, ['exporters', 'debug']).issues).toEqual([
      { path: ['exporters', 'debug', 'verbosity'], message: 'expected one of "basic", "normal", "detailed", got "loud"' },
    ]);
  });
});
