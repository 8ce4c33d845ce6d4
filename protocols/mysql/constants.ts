/**
 * MySQL client/server protocol numbers (dev.mysql.com "Client/Server
 * Protocol", MariaDB's additions): command bytes, capability and status
 * flags, packet markers.
 */

/** Command names by command byte, as the protocol documentation spells them. */
export const COMMAND_NAMES: readonly string[] = [
  'COM_SLEEP',
  'COM_QUIT',
  'COM_INIT_DB',
  'COM_QUERY',
  'COM_FIELD_LIST',
  'COM_CREATE_DB',
  'COM_DROP_DB',
  'COM_REFRESH',
  'COM_SHUTDOWN',
  'COM_STATISTICS',
  'COM_PROCESS_INFO',
  'COM_CONNECT',
  'COM_PROCESS_KILL',
  'COM_DEBUG',
  'COM_PING',
  'COM_TIME',
  'COM_DELAYED_INSERT',
  'COM_CHANGE_USER',
  'COM_BINLOG_DUMP',
  'COM_TABLE_DUMP',
  'COM_CONNECT_OUT',
  'COM_REGISTER_SLAVE',
  'COM_STMT_PREPARE',
  'COM_STMT_EXECUTE',
  'COM_STMT_SEND_LONG_DATA',
  'COM_STMT_CLOSE',
  'COM_STMT_RESET',
  'COM_SET_OPTION',
  'COM_STMT_FETCH',
  'COM_DAEMON',
  'COM_BINLOG_DUMP_GTID',
  'COM_RESET_CONNECTION',
];

/** Close the connection; no reply. */
export const COM_QUIT = 0x01;
/** Change the default database (USE). */
export const COM_INIT_DB = 0x02;
/** A text-protocol statement. */
export const COM_QUERY = 0x03;
/** Column definitions of a table (deprecated). */
export const COM_FIELD_LIST = 0x04;
/** The process list, as a result set (deprecated). */
export const COM_PROCESS_INFO = 0x0a;
/** Kill a connection (deprecated). */
export const COM_PROCESS_KILL = 0x0c;
/** Is the server alive; OK. */
export const COM_PING = 0x0e;
/** Re-authenticate as another user. */
export const COM_CHANGE_USER = 0x11;
/** Start a binlog stream (replication). */
export const COM_BINLOG_DUMP = 0x12;
/** Dump a table (replication, obsolete). */
export const COM_TABLE_DUMP = 0x13;
/** Prepare a statement; the reply carries its id. */
export const COM_STMT_PREPARE = 0x16;
/** Execute a prepared statement with parameters. */
export const COM_STMT_EXECUTE = 0x17;
/** Send a parameter in pieces; no reply. */
export const COM_STMT_SEND_LONG_DATA = 0x18;
/** Deallocate a prepared statement; no reply. */
export const COM_STMT_CLOSE = 0x19;
/** Reset a prepared statement's data. */
export const COM_STMT_RESET = 0x1a;
/** Fetch rows from a cursor. */
export const COM_STMT_FETCH = 0x1c;
/** Start a binlog stream by GTID. */
export const COM_BINLOG_DUMP_GTID = 0x1e;
/** Reset the session state. */
export const COM_RESET_CONNECTION = 0x1f;
/** MariaDB's bulk execute (array binding). */
export const COM_STMT_BULK_EXECUTE = 0xfa;

/** The name of a command byte, '' when unknown. */
export function commandName(cmd: number): string {
  if (cmd >= 0 && cmd < COMMAND_NAMES.length) return COMMAND_NAMES[cmd];
  return cmd === COM_STMT_BULK_EXECUTE ? 'COM_STMT_BULK_EXECUTE' : '';
}

/** Whether a byte is a command a client sends (COM_SLEEP and COM_CONNECT are server-internal). */
export function isClientCommand(cmd: number): boolean {
  return (cmd >= 0x01 && cmd <= 0x1f && cmd !== 0x0b) || cmd === COM_STMT_BULK_EXECUTE;
}

// Capability flags.
/** The HandshakeResponse names a database. */
export const CLIENT_CONNECT_WITH_DB = 0x00000008;
/** zlib compressed protocol after authentication. */
export const CLIENT_COMPRESS = 0x00000020;
/** The 4.1 protocol (every server since 2004). */
export const CLIENT_PROTOCOL_41 = 0x00000200;
/** TLS after the SSLRequest. */
export const CLIENT_SSL = 0x00000800;
/** Authentication data with a 1-byte length. */
export const CLIENT_SECURE_CONNECTION = 0x00008000;
/** Pluggable authentication. */
export const CLIENT_PLUGIN_AUTH = 0x00080000;
/** Authentication data with a length-encoded length. */
export const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 0x00200000;
/** OK packets replace the EOF packets of result sets. */
export const CLIENT_DEPRECATE_EOF = 0x01000000;
/** zstd compressed protocol (MySQL 8.0.18+). */
export const CLIENT_ZSTD_COMPRESSION_ALGORITHM = 0x04000000;
/** COM_QUERY carries query attributes before the SQL (MySQL 8.0.23+). */
export const CLIENT_QUERY_ATTRIBUTES = 0x08000000;

// Server status flags (OK and EOF packets).
/** Another result set follows (multi-statements, CALL). */
export const SERVER_MORE_RESULTS_EXISTS = 0x0008;
/** The rows are fetched from a cursor (COM_STMT_FETCH). */
export const SERVER_STATUS_CURSOR_EXISTS = 0x0040;

// First byte of response packets.
/** First byte of an OK packet. */
export const OK = 0x00;
/** First byte of a LOCAL INFILE request. */
export const LOCAL_INFILE = 0xfb;
/** First byte of an EOF packet (or of the OK ending a result set under DEPRECATE_EOF). */
export const EOF = 0xfe;
/** First byte of an ERR packet. */
export const ERR = 0xff;

/** A packet payload of this length continues in the next packet (16 MB multi-packet payloads). */
export const MAX_PACKET = 0xffffff;
