/**
 * Fuzzing the MySQL parser: 20,000+ random and mutated conversations with a
 * fixed seed. The parser must never throw, every session must be well formed,
 * and buffers must stay within maxBufferBytes.
 */
import { fuzzConversations, fuzzNoise, type ConversationFuzzOptions, type Script } from '../testing/fuzz';
import { CLIENT_COMPRESS, CLIENT_DEPRECATE_EOF, COM_INIT_DB, COM_PING, COM_QUERY, COM_QUIT, COM_STMT_CLOSE, COM_STMT_EXECUTE, COM_STMT_PREPARE } from './constants';
import { inferMysql, mysqlSpec } from './index';
import { BASE_CAPS, command, eof, err, frame, greeting, handshakeResponse, lenencInt, ok, packet, prepareOk, resultSet, u32le, utf8 } from './testing';

/** Valid conversations to mutate. */
function seeds(): Script[] {
  const login = (caps: number): Script => [
    [1, packet(0, greeting('8.0.36', caps))],
    [0, packet(1, handshakeResponse(caps, 'app', utf8('auth'), 'shop'))],
    [1, packet(2, ok())],
  ];
  const exec = Buffer.concat([u32le(5), Buffer.from([0]), u32le(1), Buffer.from([0, 1, 0xfe, 0]), lenencInt(3), utf8('abc')]);
  return [
    [
      ...login(BASE_CAPS),
      [0, command(COM_QUERY, "SELECT a, b FROM t WHERE c = 'x' IN (1,2)")],
      [1, resultSet(['a', 'b'], [['1', '2'], ['3', '4']])],
      [0, command(COM_STMT_PREPARE, 'SELECT * FROM t WHERE id = ?')],
      [1, prepareOk(5, 1, 2)],
      [0, command(COM_STMT_EXECUTE, exec)],
      [1, Buffer.concat([packet(1, lenencInt(1)), packet(2, eof()), packet(3, Buffer.from([0, 0, 1, 0x31])), packet(4, eof())])],
      [0, command(COM_STMT_CLOSE, u32le(5))],
      [0, command(COM_INIT_DB, 'other')],
      [1, packet(1, err(1049, '42000', "Unknown database 'other'"))],
      [0, command(COM_QUIT)],
    ],
    [
      ...login(BASE_CAPS | CLIENT_DEPRECATE_EOF),
      [0, command(COM_QUERY, 'SELECT 1')],
      [1, resultSet(['1'], [['1']], true)],
      [0, command(COM_PING)],
      [1, packet(1, ok())],
    ],
    [
      ...login(BASE_CAPS | CLIENT_COMPRESS),
      [0, frame(0, command(COM_QUERY, 'SELECT name FROM users'), true)],
      [1, frame(1, resultSet(['name'], [['alice'], ['bob']]))],
      [0, frame(0, command(COM_QUERY, 'UPDATE t SET a = 1 WHERE b IN (' + '1,'.repeat(50) + '2)'))],
      [1, frame(1, packet(1, ok(3)), true)],
    ],
  ];
}

/** The harness's view of the parser: where it buffers, and what the mutator writes into headers. */
const FUZZ: ConversationFuzzOptions = {
  spec: mysqlSpec,
  buffers: ['body', 'cBuf'],
  interesting: [0x00, 0xff, 0xfe, 0xfb, 0xfc, 0xfd, 0x01, 0x7f],
  headerBytes: 12,
  drawKindFirst: true,
};

describe('MySQL parser fuzzing', () => {
  test('20,000 mutated conversations: never throws, sessions well formed, buffers bounded', () => {
    const { sessions, problems } = fuzzConversations(FUZZ, seeds(), 20_000, 0x5eed_0001);
    expect(problems).toEqual([]);
    // The unmutated majority still parses: far more sessions than conversations.
    expect(sessions).toBeGreaterThan(20_000);
  });

  test('5,000 conversations of random bytes, and inference on random prefixes', () => {
    const { problems, confidences } = fuzzNoise(FUZZ, inferMysql, 5_000, 0x5eed_0002);
    expect(problems).toEqual([]);
    expect([...confidences].every((c) => c === 0 || c === 1 || c === 2)).toBe(true);
  });
});
