import { L7Connection } from './detector';
import { newSession, type ConnectionParser, type Dir, type L7Session, type ParserContext, type ProtocolSpec } from './types';
import { DEFAULT_PARSER_OPTIONS } from './types';

/** A line protocol: "REQ x" / "RES x", certain when a line starts with its tag. */
function lineSpec(name: string, tag: string, ports: number[] = [], plausibleOnly = false): ProtocolSpec {
  return {
    name,
    transport: 'tcp',
    ports,
    infer(data: Uint8Array, dir: Dir) {
      const text = Buffer.from(data).toString('latin1');
      if (!text.startsWith(dir === 0 ? `${tag}REQ` : `${tag}RES`)) return 0;
      return plausibleOnly ? 1 : 2;
    },
    create(ctx: ParserContext): ConnectionParser {
      let pending: L7Session | undefined;
      return {
        feed(dir, data, time) {
          const text = Buffer.from(data).toString('latin1');
          if (text === 'THROW') throw new Error('boom');
          if (dir === 0) {
            pending = newSession(name, time);
            pending.request_resource = text;
          } else if (pending) {
            pending.response_result = text;
            pending.end_time = time;
            ctx.emit(pending);
            pending = undefined;
          }
        },
        expire() {},
        close() {},
      };
    },
  };
}

function run(specs: ProtocolSpec[], port: number, chunks: Array<[Dir, string]>) {
  const sessions: L7Session[] = [];
  const malformed: string[] = [];
  const conn = new L7Connection(specs, port, { options: DEFAULT_PARSER_OPTIONS, emit: (s) => sessions.push(s), malformed: (r) => malformed.push(r) });
  chunks.forEach(([dir, text], i) => conn.feed(dir, Buffer.from(text), BigInt(i + 1)));
  conn.close(100n);
  return { conn, sessions, malformed };
}

describe('protocol detection', () => {
  it('picks the certain match at once and replays the held chunks to its parser', () => {
    const { conn, sessions } = run([lineSpec('A', 'a'), lineSpec('B', 'b')], 1, [
      [0, 'bREQ one'],
      [1, 'bRES two'],
    ]);
    expect(conn.protocol).toBe('B');
    expect(sessions.map((s) => [s.l7_protocol, s.request_resource, s.response_result, s.start_time, s.end_time])).toEqual([['B', 'bREQ one', 'bRES two', 1n, 2n]]);
  });

  it('takes a plausible match on its port, or once both directions agree, never on the port alone', () => {
    const onPort = run([lineSpec('P', 'p', [9000], true)], 9000, [[0, 'pREQ x']]);
    expect(onPort.conn.protocol).toBe('P');
    const offPort = run([lineSpec('P', 'p', [9000], true)], 1234, [
      [0, 'pREQ x'],
      [1, 'pRES y'],
    ]);
    expect(offPort.sessions.map((s) => s.response_result)).toEqual(['pRES y']);
    const portOnly = run([lineSpec('P', 'p', [9000], true)], 9000, [[0, 'something else entirely']]);
    expect(portOnly.conn.protocol).toBeUndefined();
    expect(portOnly.conn.unknown).toBe(true);
  });

  it('gives up cheaply on a connection nothing matches', () => {
    const chunks: Array<[Dir, string]> = Array.from({ length: 40 }, (_, i) => [(i % 2) as Dir, 'x'.repeat(500)]);
    const { conn, sessions } = run([lineSpec('A', 'a')], 80, chunks);
    expect(conn.unknown).toBe(true);
    expect(sessions).toEqual([]);
  });

  it('holds copies of undecided chunks, not views of a buffer the caller reuses', () => {
    const sessions: L7Session[] = [];
    const conn = new L7Connection([lineSpec('P', 'p', [], true)], 1, { options: DEFAULT_PARSER_OPTIONS, emit: (s) => sessions.push(s), malformed: () => undefined });
    const reused = Buffer.from('pREQ one');
    conn.feed(0, reused, 1n);
    reused.write('XXXXXXXX');
    conn.feed(1, Buffer.from('pRES two'), 2n);
    expect(sessions.map((s) => s.request_resource)).toEqual(['pREQ one']);
  });

  it('switches off a parser that throws, counting it', () => {
    const { sessions, malformed, conn } = run([lineSpec('A', 'a')], 1, [
      [0, 'aREQ 1'],
      [0, 'THROW'],
      [1, 'aRES 1'],
    ]);
    expect(malformed).toEqual(['A parser threw: boom']);
    expect(conn.unknown).toBe(true);
    expect(sessions).toEqual([]);
  });
});
