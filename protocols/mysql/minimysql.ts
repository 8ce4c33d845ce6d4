/**
 * A minimal MySQL client speaking the binary protocol over a socket, for
 * tests: no npm MySQL client is installed, and the `mariadb` CLI never sends
 * COM_STMT_PREPARE/EXECUTE. Authenticates with mysql_native_password, runs
 * text queries and prepared statements, reads replies whole (EOF mode: it
 * does not ask for CLIENT_DEPRECATE_EOF).
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { CLIENT_CONNECT_WITH_DB, CLIENT_PLUGIN_AUTH, CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION, COM_QUERY, COM_QUIT, COM_STMT_CLOSE, COM_STMT_EXECUTE, COM_STMT_PREPARE } from './constants';
import { lenencStr, packet, u32le } from './testing';

/** What a reply was: OK, ERR or a result set. */
export interface Reply {
  ok: boolean;
  errorCode?: number;
  affectedRows?: number;
  rows?: number;
  stmtId?: number;
}

function sha1(...parts: Buffer[]): Buffer {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** One connection; see the module doc. */
export class MiniMysql {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private ended = false;

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    sock.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  /** Connects and logs in. */
  static async connect(port: number, user: string, password: string, database: string): Promise<MiniMysql> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const c = new MiniMysql(sock);
    const greeting = (await c.packet()).payload;
    const verEnd = greeting.indexOf(0, 1);
    const salt1 = greeting.subarray(verEnd + 5, verEnd + 13);
    const salt2 = greeting.subarray(verEnd + 13 + 1 + 2 + 1 + 2 + 2 + 1 + 10, verEnd + 13 + 1 + 2 + 1 + 2 + 2 + 1 + 10 + 12);
    const salt = Buffer.concat([salt1, salt2]);
    const h1 = sha1(Buffer.from(password));
    const scramble = Buffer.from(sha1(salt, sha1(h1)).map((b, i) => b ^ h1[i]));
    const caps = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_WITH_DB;
    const head = Buffer.alloc(32);
    head.writeUInt32LE(caps, 0);
    head.writeUInt32LE(16 * 1024 * 1024, 4);
    head[8] = 0x21;
    c.send(1, Buffer.concat([head, Buffer.from(user + '\0'), Buffer.from([scramble.length]), scramble, Buffer.from(database + '\0'), Buffer.from('mysql_native_password\0')]));
    const reply = (await c.packet()).payload;
    if (reply[0] !== 0) throw new Error(`login failed: ${reply.subarray(9).toString()}`);
    return c;
  }

  private send(seq: number, payload: Buffer): void {
    this.sock.write(packet(seq, payload));
  }

  /** The next packet. */
  async packet(): Promise<{ seq: number; payload: Buffer }> {
    for (;;) {
      if (this.buf.length >= 4) {
        const len = this.buf.readUIntLE(0, 3);
        if (this.buf.length >= 4 + len) {
          const p = { seq: this.buf[3], payload: this.buf.subarray(4, 4 + len) };
          this.buf = this.buf.subarray(4 + len);
          return p;
        }
      }
      if (this.ended) throw new Error('connection closed');
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }

  /** Reads a reply: OK, ERR, or a result set (definitions, EOF, rows, EOF). */
  private async reply(): Promise<Reply> {
    const first = (await this.packet()).payload;
    if (first[0] === 0x00) return { ok: true, affectedRows: first[1] };
    if (first[0] === 0xff) return { ok: false, errorCode: first.readUInt16LE(1) };
    const cols = first[0];
    for (let i = 0; i < cols; i++) await this.packet();
    await this.packet(); // EOF
    let rows = 0;
    for (;;) {
      const p = (await this.packet()).payload;
      if (p[0] === 0xfe && p.length < 9) break;
      if (p[0] === 0xff) return { ok: false, errorCode: p.readUInt16LE(1), rows };
      rows++;
    }
    return { ok: true, rows };
  }

  /** COM_QUERY. */
  async query(sql: string): Promise<Reply> {
    this.send(0, Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(sql)]));
    return this.reply();
  }

  /** COM_STMT_PREPARE: the statement id, or the error. */
  async prepare(sql: string): Promise<Reply> {
    this.send(0, Buffer.concat([Buffer.from([COM_STMT_PREPARE]), Buffer.from(sql)]));
    const first = (await this.packet()).payload;
    if (first[0] === 0xff) return { ok: false, errorCode: first.readUInt16LE(1) };
    const stmtId = first.readUInt32LE(1);
    const cols = first.readUInt16LE(5);
    const params = first.readUInt16LE(7);
    for (let i = 0; i < params; i++) await this.packet();
    if (params > 0) await this.packet();
    for (let i = 0; i < cols; i++) await this.packet();
    if (cols > 0) await this.packet();
    return { ok: true, stmtId };
  }

  /** COM_STMT_EXECUTE with integer and string parameters. */
  async execute(stmtId: number, params: Array<number | string>): Promise<Reply> {
    const parts = [Buffer.from([COM_STMT_EXECUTE]), u32le(stmtId), Buffer.from([0]), u32le(1)];
    if (params.length > 0) {
      parts.push(Buffer.alloc((params.length + 7) >> 3), Buffer.from([1]));
      for (const p of params) parts.push(Buffer.from(typeof p === 'number' ? [0x08, 0] : [0xfd, 0]));
      for (const p of params) {
        if (typeof p === 'number') {
          const b = Buffer.alloc(8);
          b.writeBigInt64LE(BigInt(p), 0);
          parts.push(b);
        } else parts.push(lenencStr(p));
      }
    }
    this.send(0, Buffer.concat(parts));
    return this.reply();
  }

  /** COM_STMT_CLOSE (no reply). */
  closeStatement(stmtId: number): void {
    this.send(0, Buffer.concat([Buffer.from([COM_STMT_CLOSE]), u32le(stmtId)]));
  }

  /** COM_QUIT and close. */
  async quit(): Promise<void> {
    this.send(0, Buffer.from([COM_QUIT]));
    this.sock.end();
    await new Promise<void>((r) => (this.ended ? r() : this.sock.once('close', () => r())));
  }
}

