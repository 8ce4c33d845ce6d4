/**
 * Workloads of the MySQL and PostgreSQL parsers for `bench/protocols.ts`
 * (the machinery is `bench/lib/protocol-bench.ts`). Definitions only: run
 * them with `node dist/bench/protocols.js [seconds] MySQL,PostgreSQL`.
 *
 * - The DeepFlow conformance captures (flow_generator/mysql, …/postgre).
 * - Synthetic captures large enough for steady-state figures: MySQL (text
 *   queries with 10-row result sets, INSERTs, prepared statements executed,
 *   errors) and PostgreSQL (simple queries with rows, extended-query batches
 *   Parse/Bind/Describe/Execute/Sync, errors). SQL obfuscation is on (the
 *   default), as in production.
 *
 * tshark extracts the command or message type, the query and the error code.
 */
import { mysqlSpec } from '../protocols/mysql';
import { COM_QUERY, COM_STMT_EXECUTE, COM_STMT_PREPARE } from '../protocols/mysql/constants';
import * as my from '../protocols/mysql/testing';
import { postgresqlSpec } from '../protocols/postgresql';
import * as pg from '../protocols/postgresql/testing';
import { printDefinitionsOnly, writeConversations, type Conversation, type ProtocolWorkload } from './lib/protocol-bench';

/**
 * MySQL connections: handshake, one prepared statement, then `perConn`
 * commands in four kinds taking turns: SELECT with a 10-row text result set
 * (and a traceparent comment), two-row INSERT, COM_STMT_EXECUTE with a binary
 * row, UPDATE answered OK or (every other one) a deadlock error.
 */
function mysqlConversations(connections: number, perConn: number): Conversation[] {
  const convs: Conversation[] = [];
  const cols = ['id', 'customer', 'status', 'total', 'created_at'];
  for (let c = 0; c < connections; c++) {
    const steps: Conversation = [
      [1, my.packet(0, my.greeting('8.0.36', my.BASE_CAPS))],
      [0, my.packet(1, my.handshakeResponse(my.BASE_CAPS, 'shop', Buffer.from('auth-data-20-bytes..'), 'shop'))],
      [1, my.packet(2, my.ok())],
      [0, my.command(COM_STMT_PREPARE, 'SELECT id, customer, status FROM orders WHERE id = ? AND status <> ?')],
      [1, my.prepareOk(1, 2, 3)],
    ];
    for (let i = 0; i < perConn; i++) {
      const n = c * perConn + i;
      const kind = n % 4;
      if (kind === 0) {
        steps.push([0, my.command(COM_QUERY, `SELECT id, customer, status, total, created_at FROM orders WHERE customer = 'cust-${n}' AND total > ${n % 97}.50 ORDER BY created_at DESC LIMIT 10 /*traceparent='00-${n.toString(16).padStart(32, '0')}-00f067aa0ba902b7-01'*/`)]);
        steps.push([1, my.resultSet(cols, Array.from({ length: 10 }, (_, r) => [String(r), `cust-${n}`, 'paid', '19.99', '2024-05-01 12:00:00']))]);
      } else if (kind === 1) {
        steps.push([0, my.command(COM_QUERY, `INSERT INTO order_items (order_id, sku, qty, price) VALUES (${n}, 'SKU-${n}', 2, 9.99), (${n}, 'SKU-${n + 1}', 1, 4.50)`)]);
        steps.push([1, my.packet(1, my.ok(2))]);
      } else if (kind === 2) {
        steps.push([0, my.command(COM_STMT_EXECUTE, Buffer.concat([my.u32le(1), Buffer.from([0]), my.u32le(1), Buffer.from([0, 1, 0x08, 0, 0xfd, 0]), Buffer.alloc(8, n & 0xff), my.lenencStr('cancelled')]))]);
        steps.push([1, Buffer.concat([my.packet(1, my.lenencInt(3)), my.packet(2, my.columnDef('id')), my.packet(3, my.columnDef('customer')), my.packet(4, my.columnDef('status')), my.packet(5, my.eof()), my.packet(6, Buffer.from([0, 0, 1, 0x31, 4, 0x61, 0x62, 0x63, 0x64, 4, 0x70, 0x61, 0x69, 0x64])), my.packet(7, my.eof())])]);
      } else {
        steps.push([0, my.command(COM_QUERY, `UPDATE inventory SET qty = qty - 1 WHERE sku = 'SKU-${n}'`)]);
        steps.push([1, my.packet(1, n % 8 === 3 ? my.err(1213, '40001', 'Deadlock found when trying to get lock; try restarting transaction') : my.ok(1))]);
      }
    }
    convs.push(steps);
  }
  return convs;
}

/**
 * PostgreSQL connections: startup, then `perConn` requests in three kinds
 * taking turns: simple SELECT with 10 rows, an extended-query batch
 * (Parse/Bind/Describe/Execute/Sync) with one row, UPDATE answered with
 * CommandComplete or (one in three) a deadlock error; Terminate at the end.
 */
function postgresConversations(connections: number, perConn: number): Conversation[] {
  const convs: Conversation[] = [];
  for (let c = 0; c < connections; c++) {
    const steps: Conversation = [
      [0, pg.startup({ user: 'shop', database: 'shop', application_name: 'orders-api' })],
      [1, Buffer.concat([pg.authentication(0), pg.parameterStatus('server_version', '15.18'), pg.parameterStatus('client_encoding', 'UTF8'), pg.backendKeyData(c, 12345), pg.readyForQuery()])],
    ];
    for (let i = 0; i < perConn; i++) {
      const n = c * perConn + i;
      const kind = n % 3;
      if (kind === 0) {
        steps.push([0, pg.query(`SELECT id, customer, status, total FROM orders WHERE customer = 'cust-${n}' AND total > ${n % 97} ORDER BY id LIMIT 10`)]);
        steps.push([1, Buffer.concat([pg.rowDescription(['id', 'customer', 'status', 'total']), ...Array.from({ length: 10 }, (_, r) => pg.dataRow([String(r), `cust-${n}`, 'paid', '19.99'])), pg.commandComplete('SELECT 10'), pg.readyForQuery()])]);
      } else if (kind === 1) {
        steps.push([0, Buffer.concat([pg.parse('', 'SELECT id, status FROM orders WHERE id = $1 AND status <> $2'), pg.bind('', '', [String(n), 'cancelled']), pg.describe('P', ''), pg.execute(''), pg.sync()])]);
        steps.push([1, Buffer.concat([pg.parseComplete(), pg.bindComplete(), pg.rowDescription(['id', 'status']), pg.dataRow([String(n), 'paid']), pg.commandComplete('SELECT 1'), pg.readyForQuery()])]);
      } else {
        steps.push([0, pg.query(`UPDATE inventory SET qty = qty - 1 WHERE sku = 'SKU-${n}'`)]);
        steps.push([1, n % 9 === 2 ? Buffer.concat([pg.errorResponse({ S: 'ERROR', V: 'ERROR', C: '40P01', M: 'deadlock detected' }), pg.readyForQuery()]) : Buffer.concat([pg.commandComplete('UPDATE 1'), pg.readyForQuery()])]);
      }
    }
    steps.push([0, pg.terminate()]);
    convs.push(steps);
  }
  return convs;
}


const MYSQL_FIELDS = ['mysql.command', 'mysql.query', 'mysql.error_code'];
const PGSQL_FIELDS = ['pgsql.type', 'pgsql.query'];

/** The MySQL and PostgreSQL workloads: conformance, then synthetic. */
export const sqlWorkloads: readonly ProtocolWorkload[] = [
  {
    spec: mysqlSpec,
    name: 'conformance',
    capture: { kind: 'conformance', folder: 'mysql' },
    tshark: { fields: MYSQL_FIELDS, dissector: 'mysql' },
  },
  {
    spec: mysqlSpec,
    name: 'synthetic, 10,000 commands on 40 connections',
    capture: { kind: 'synthetic', write: (f) => writeConversations(f, 3306, mysqlConversations(40, 250)) },
    tshark: { fields: MYSQL_FIELDS, dissector: 'mysql' },
  },
  {
    spec: postgresqlSpec,
    name: 'conformance',
    capture: { kind: 'conformance', folder: 'postgre' },
    tshark: { fields: PGSQL_FIELDS, dissector: 'pgsql' },
  },
  {
    spec: postgresqlSpec,
    name: 'synthetic, 10,000 queries on 40 connections',
    capture: { kind: 'synthetic', write: (f) => writeConversations(f, 5432, postgresConversations(40, 250)) },
    tshark: { fields: PGSQL_FIELDS, dissector: 'pgsql' },
  },
];

if (require.main === module) printDefinitionsOnly('MySQL,PostgreSQL');
