/**
 * Fuzzing the PostgreSQL parser: 20,000+ random and mutated conversations
 * with a fixed seed. The parser must never throw, every session must be well
 * formed, and buffers must stay within maxBufferBytes.
 */
import { fuzzConversations, fuzzNoise, type ConversationFuzzOptions, type Script } from '../testing/fuzz';
import { inferPostgresql, postgresqlSpec } from './index';
import * as pg from './testing';

const READY = Buffer.concat([pg.authentication(0), pg.parameterStatus('server_version', '15.18'), pg.backendKeyData(1, 2), pg.readyForQuery()]);

/** Valid conversations to mutate. */
function seeds(): Script[] {
  return [
    [
      [0, pg.sslRequest()],
      [1, Buffer.from('N')],
      [0, pg.startup({ user: 'app', database: 'shop' })],
      [1, READY],
      [0, pg.query("SELECT a FROM t WHERE b = 'x'")],
      [1, Buffer.concat([pg.rowDescription(['a']), pg.dataRow(['1']), pg.dataRow([null]), pg.commandComplete('SELECT 2'), pg.readyForQuery()])],
      [0, pg.query('SELECT * FROM missing')],
      [1, Buffer.concat([pg.errorResponse({ S: 'ERROR', V: 'ERROR', C: '42P01', M: 'relation does not exist' }), pg.readyForQuery()])],
      [0, pg.terminate()],
    ],
    [
      [0, Buffer.concat([pg.parse('s1', 'UPDATE t SET a = $1 WHERE id = $2'), pg.describe('S', 's1'), pg.sync()])],
      [1, Buffer.concat([pg.parseComplete(), pg.parameterDescription([23, 23]), pg.noData(), pg.readyForQuery()])],
      [0, Buffer.concat([pg.bind('', 's1', ['1', '2']), pg.execute(''), pg.bind('p', 's1', ['3', null]), pg.execute('p', 1), pg.sync()])],
      [1, Buffer.concat([pg.bindComplete(), pg.commandComplete('UPDATE 1'), pg.bindComplete(), pg.portalSuspended(), pg.readyForQuery('T')])],
      [0, Buffer.concat([pg.close('S', 's1'), pg.sync()])],
      [1, Buffer.concat([pg.closeComplete(), pg.readyForQuery()])],
    ],
    [
      [0, pg.startup({ user: 'u' })],
      [1, pg.authentication(10, Buffer.from('SCRAM-SHA-256\0\0'))],
      [0, pg.password('secret')],
      [1, READY],
      [0, pg.query('COPY t FROM STDIN')],
      [1, pg.copyInResponse(2)],
      [0, Buffer.concat([pg.copyData('1\t2\n'), pg.copyDone()])],
      [1, Buffer.concat([pg.commandComplete('COPY 1'), pg.readyForQuery()])],
      [0, pg.functionCall(1598)],
      [1, Buffer.concat([pg.functionCallResponse('x'), pg.readyForQuery()])],
    ],
  ];
}

/** The harness's view of the parser: where it buffers, and what the mutator writes into headers. */
const FUZZ: ConversationFuzzOptions = {
  spec: postgresqlSpec,
  buffers: ['body'],
  interesting: [0x00, 0xff, 0x7f, 0x04, 0x45, 0x5a, 0x43, 0x51],
  headerBytes: 10,
};

describe('PostgreSQL parser fuzzing', () => {
  test('20,000 mutated conversations: never throws, sessions well formed, buffers bounded', () => {
    const { sessions, problems } = fuzzConversations(FUZZ, seeds(), 20_000, 0x5eed_0003);
    expect(problems).toEqual([]);
    expect(sessions).toBeGreaterThan(20_000);
  });

  test('5,000 conversations of random bytes, and inference on random prefixes', () => {
    const { problems, confidences } = fuzzNoise(FUZZ, inferPostgresql, 5_000, 0x5eed_0004);
    expect(problems).toEqual([]);
    expect([...confidences].every((c) => c === 0 || c === 1 || c === 2)).toBe(true);
  });
});
