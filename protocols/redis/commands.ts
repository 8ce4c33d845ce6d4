/**
 * What the Redis parser knows about commands (from the command reference at
 * redis.io/commands): the top-level names (inference), the container
 * commands whose subcommand is part of the name (`CLIENT SETNAME`, as
 * DeepFlow reports them), and which arguments are values to elide from
 * `request_resource` (keys stay, values go) or secrets that never stay.
 */

/** Top-level command names (Redis 7.x core plus the common module prefixes). */
const COMMANDS = `
ACL APPEND ASKING AUTH BGREWRITEAOF BGSAVE BITCOUNT BITFIELD BITFIELD_RO BITOP BITPOS BLMOVE BLMPOP BLPOP
BRPOP BRPOPLPUSH BZMPOP BZPOPMAX BZPOPMIN CLIENT CLUSTER COMMAND CONFIG COPY DBSIZE DEBUG DECR DECRBY DEL
DISCARD DUMP ECHO EVAL EVAL_RO EVALSHA EVALSHA_RO EXEC EXISTS EXPIRE EXPIREAT EXPIRETIME FAILOVER FCALL
FCALL_RO FLUSHALL FLUSHDB FUNCTION GEOADD GEODIST GEOHASH GEOPOS GEORADIUS GEORADIUS_RO GEORADIUSBYMEMBER
GEORADIUSBYMEMBER_RO GEOSEARCH GEOSEARCHSTORE GET GETBIT GETDEL GETEX GETRANGE GETSET HDEL HELLO HEXISTS
HEXPIRE HEXPIREAT HEXPIRETIME HGET HGETALL HGETDEL HGETEX HINCRBY HINCRBYFLOAT HKEYS HLEN HMGET HMSET
HPERSIST HPEXPIRE HPEXPIREAT HPEXPIRETIME HPTTL HRANDFIELD HSCAN HSET HSETEX HSETNX HSTRLEN HTTL HVALS INCR
INCRBY INCRBYFLOAT INFO KEYS LASTSAVE LATENCY LCS LINDEX LINSERT LLEN LMOVE LMPOP LOLWUT LPOP LPOS LPUSH
LPUSHX LRANGE LREM LSET LTRIM MEMORY MGET MIGRATE MODULE MONITOR MOVE MSET MSETNX MULTI OBJECT PERSIST
PEXPIRE PEXPIREAT PEXPIRETIME PFADD PFCOUNT PFDEBUG PFMERGE PFSELFTEST PING PSETEX PSUBSCRIBE PSYNC PTTL
PUBLISH PUBSUB PUNSUBSCRIBE QUIT RANDOMKEY READONLY READWRITE RENAME RENAMENX REPLCONF REPLICAOF RESET
RESTORE RESTORE-ASKING ROLE RPOP RPOPLPUSH RPUSH RPUSHX SADD SAVE SCAN SCARD SCRIPT SDIFF SDIFFSTORE SELECT
SET SETBIT SETEX SETNX SETRANGE SHUTDOWN SINTER SINTERCARD SINTERSTORE SISMEMBER SLAVEOF SLOWLOG SMEMBERS
SMISMEMBER SMOVE SORT SORT_RO SPOP SPUBLISH SRANDMEMBER SREM SSCAN SSUBSCRIBE STRLEN SUBSCRIBE SUBSTR
SUNION SUNIONSTORE SUNSUBSCRIBE SWAPDB SYNC TIME TOUCH TTL TYPE UNLINK UNSUBSCRIBE UNWATCH WAIT WAITAOF
WATCH XACK XADD XAUTOCLAIM XCLAIM XDEL XGROUP XINFO XLEN XPENDING XRANGE XREAD XREADGROUP XREVRANGE
XSETID XTRIM ZADD ZCARD ZCOUNT ZDIFF ZDIFFSTORE ZINCRBY ZINTER ZINTERCARD ZINTERSTORE ZLEXCOUNT ZMPOP
ZMSCORE ZPOPMAX ZPOPMIN ZRANDMEMBER ZRANGE ZRANGEBYLEX ZRANGEBYSCORE ZRANGESTORE ZRANK ZREM
ZREMRANGEBYLEX ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREVRANGE ZREVRANGEBYLEX ZREVRANGEBYSCORE ZREVRANK ZSCAN
ZSCORE ZUNION ZUNIONSTORE
`;

const KNOWN = new Set(COMMANDS.split(/\s+/).filter(Boolean));

/** Module command families (`JSON.SET`, `FT.SEARCH`, …): the prefix is enough to recognise them. */
const MODULE_PREFIXES = ['BF.', 'CF.', 'CMS.', 'FT.', 'JSON.', 'TDIGEST.', 'TOPK.', 'TS.'];

/** Whether an upper-case name is a Redis command. */
export function isKnownCommand(upper: string): boolean {
  if (KNOWN.has(upper)) return true;
  for (const p of MODULE_PREFIXES) if (upper.startsWith(p) && upper.length > p.length) return true;
  return false;
}

/** Container commands and their subcommands: the pair is the command's name. */
const SUBCOMMANDS: Record<string, string> = {
  ACL: 'CAT DELUSER DRYRUN GENPASS GETUSER HELP LIST LOAD LOG SAVE SETUSER USERS WHOAMI',
  CLIENT:
    'CACHING GETNAME GETREDIR HELP ID INFO KILL LIST NO-EVICT NO-TOUCH PAUSE REPLY SETINFO SETNAME TRACKING TRACKINGINFO UNBLOCK UNPAUSE',
  CLUSTER:
    'ADDSLOTS ADDSLOTSRANGE BUMPEPOCH COUNT-FAILURE-REPORTS COUNTKEYSINSLOT DELSLOTS DELSLOTSRANGE FAILOVER FLUSHSLOTS FORGET GETKEYSINSLOT HELP INFO KEYSLOT LINKS MEET MYID MYSHARDID NODES REPLICAS REPLICATE RESET SAVECONFIG SET-CONFIG-EPOCH SETSLOT SHARDS SLAVES SLOTS',
  COMMAND: 'COUNT DOCS GETKEYS GETKEYSANDFLAGS HELP INFO LIST',
  CONFIG: 'GET HELP RESETSTAT REWRITE SET',
  FUNCTION: 'DELETE DUMP FLUSH HELP KILL LIST LOAD RESTORE STATS',
  LATENCY: 'DOCTOR GRAPH HELP HISTOGRAM HISTORY LATEST RESET',
  MEMORY: 'DOCTOR HELP MALLOC-STATS PURGE STATS USAGE',
  MODULE: 'HELP LIST LOAD LOADEX UNLOAD',
  OBJECT: 'ENCODING FREQ HELP IDLETIME REFCOUNT',
  PUBSUB: 'CHANNELS HELP NUMPAT NUMSUB SHARDCHANNELS SHARDNUMSUB',
  SCRIPT: 'DEBUG EXISTS FLUSH HELP KILL LOAD',
  SLOWLOG: 'GET HELP LEN RESET',
  XGROUP: 'CREATE CREATECONSUMER DELCONSUMER DESTROY HELP SETID',
  XINFO: 'CONSUMERS GROUPS HELP STREAM',
  'FT.CONFIG': 'GET SET',
  'FT.CURSOR': 'DEL READ',
  'JSON.DEBUG': 'HELP MEMORY',
};

const SUB_SETS = new Map<string, Set<string>>(Object.entries(SUBCOMMANDS).map(([k, v]) => [k, new Set(v.split(' '))]));

/** The subcommand set of a container command, if it is one. */
export function subcommandsOf(upper: string): Set<string> | undefined {
  return SUB_SETS.get(upper);
}

/**
 * How `request_resource` treats a command's arguments (positions count the
 * command as 0). Values are elided to `?` when obfuscation is on; secrets
 * (passwords) always.
 */
export enum Rule {
  /** Every argument kept. */
  Keep,
  /** Every argument is a secret (AUTH). */
  Secret,
  /** The argument at `a` is a value (SET key value …). */
  Nth,
  /** The arguments at `a` and `b` are values. */
  Nth2,
  /** Everything from position `a` on is values, shown as one `?`. */
  After,
  /** Positions `a`, `a + b`, `a + 2b`, … are values (MSET, HSET). */
  Every,
  /** HELLO [protover [AUTH user pass] [SETNAME name]]: the password. */
  Hello,
  /** MIGRATE … [AUTH pass | AUTH2 user pass] …: the password. */
  Migrate,
  /** CONFIG SET p v [p v …]: every value (passwords are config values). */
  ConfigSet,
  /** ACL SETUSER name rules…: the rules (they hold passwords). */
  AclSetuser,
  /** ZADD key [options] score member …: the members. */
  Zadd,
  /** EVAL script numkeys key… arg…: the args after the keys. */
  Eval,
}

/** A rule with its positions. */
export interface ArgRule {
  rule: Rule;
  a: number;
  b: number;
}

const RULES = new Map<string, ArgRule>();
function rule(names: string, r: Rule, a = 0, b = 0): void {
  for (const n of names.split(' ')) RULES.set(n, { rule: r, a, b });
}
rule('AUTH', Rule.Secret);
rule('HELLO', Rule.Hello);
rule('MIGRATE', Rule.Migrate);
rule('CONFIG', Rule.ConfigSet);
rule('ACL', Rule.AclSetuser);
rule('ZADD', Rule.Zadd);
rule('EVAL EVAL_RO EVALSHA EVALSHA_RO FCALL FCALL_RO', Rule.Eval);
rule('SET PUBLISH SPUBLISH', Rule.Nth, 2);
rule('ECHO', Rule.Nth, 1);
rule('SETEX PSETEX SETRANGE HSETNX LSET LREM SETBIT ZINCRBY SMOVE RESTORE', Rule.Nth, 3);
rule('LINSERT', Rule.Nth2, 3, 4);
rule(
  'APPEND GETSET SETNX LPUSH RPUSH LPUSHX RPUSHX SADD SREM ZREM SISMEMBER SMISMEMBER ZRANK ZREVRANK ZSCORE ZMSCORE PFADD GEOADD GEOHASH GEOPOS GEODIST LPOS XADD',
  Rule.After,
  2,
);
rule('MSET MSETNX', Rule.Every, 2, 2);
rule('HSET HMSET', Rule.Every, 3, 2);

const KEEP: ArgRule = { rule: Rule.Keep, a: 0, b: 0 };

/** The argument rule of an upper-case command name. */
export function ruleOf(upper: string): ArgRule {
  return RULES.get(upper) ?? KEEP;
}

/** Pub/sub confirmation kinds (RESP2 arrays / RESP3 pushes), by the command that asks for them. */
export const CONFIRMATION_OF: Record<string, string> = {
  SUBSCRIBE: 'subscribe',
  PSUBSCRIBE: 'psubscribe',
  SSUBSCRIBE: 'ssubscribe',
  UNSUBSCRIBE: 'unsubscribe',
  PUNSUBSCRIBE: 'punsubscribe',
  SUNSUBSCRIBE: 'sunsubscribe',
};

/**
 * What the parser needs of a command name, looked up once per name rather
 * than once per request: the upper-case name, its subcommands, its argument
 * rule and its pub/sub confirmation kind.
 */
export interface CommandInfo {
  /** The upper-case name. */
  readonly upper: string;
  /** The same as bytes. */
  readonly bytes: Uint8Array;
  readonly subs: Set<string> | undefined;
  readonly rule: ArgRule;
  /** The confirmation kind it waits for (pub/sub), or ''. */
  readonly confirm: string;
  /**
   * Argument positions (bits 1…31) that are values by position alone (Nth,
   * Nth2, After, Every): with obfuscation on they are elided whatever they
   * hold, so their bytes need not be kept.
   */
  readonly skipMask: number;
}

/** {@link CommandInfo.skipMask} of a rule. */
function skipMaskOf(r: ArgRule): number {
  let m = 0;
  for (let i = 1; i < 32; i++) {
    let hide = false;
    if (r.rule === Rule.Nth) hide = i === r.a;
    else if (r.rule === Rule.Nth2) hide = i === r.a || i === r.b;
    else if (r.rule === Rule.After) hide = i >= r.a;
    else if (r.rule === Rule.Every) hide = i >= r.a && (i - r.a) % r.b === 0;
    if (hide) m |= 1 << i;
  }
  return m;
}

/** Slots of the command table (a power of two, well above the names it holds). */
const TABLE_SIZE = 2048;
const TABLE: Array<CommandInfo | undefined> = new Array<CommandInfo | undefined>(TABLE_SIZE);

/** FNV-1a over the bytes, for the table. */
function hashBytes(b: Uint8Array, s: number, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ b[s + i], 0x01000193);
  return h >>> 0;
}

for (const name of new Set([...KNOWN, ...SUB_SETS.keys(), ...RULES.keys(), ...Object.keys(CONFIRMATION_OF)])) {
  const bytes = Buffer.from(name, 'latin1');
  const rule = ruleOf(name);
  const info: CommandInfo = { upper: name, bytes, subs: SUB_SETS.get(name), rule, confirm: CONFIRMATION_OF[name] ?? '', skipMask: skipMaskOf(rule) };
  let i = hashBytes(bytes, 0, bytes.length) & (TABLE_SIZE - 1);
  while (TABLE[i] !== undefined) i = (i + 1) & (TABLE_SIZE - 1);
  TABLE[i] = info;
}

/** Scratch for upper-casing a name before the lookup (names in the table are at most 40 bytes). */
const UPPER = new Uint8Array(40);

/**
 * The table entry of the command name `b[s, s + n)` compared case-
 * insensitively, or undefined when the name is not one the parser has rules
 * for (or is not a short printable ASCII word). Allocates nothing.
 */
export function lookupCommand(b: Uint8Array, s: number, n: number): CommandInfo | undefined {
  if (n === 0 || n > 40) return undefined;
  for (let k = 0; k < n; k++) {
    let c = b[s + k];
    if (c <= 0x20 || c >= 0x7f) return undefined;
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    UPPER[k] = c;
  }
  let i = hashBytes(UPPER, 0, n) & (TABLE_SIZE - 1);
  for (;;) {
    const e = TABLE[i];
    if (e === undefined) return undefined;
    const eb = e.bytes;
    if (eb.length === n) {
      let k = 0;
      while (k < n && eb[k] === UPPER[k]) k++;
      if (k === n) return e;
    }
    i = (i + 1) & (TABLE_SIZE - 1);
  }
}

/** Pushes that are messages, not confirmations: they answer no request. */
export const MESSAGE_PUSHES = new Set(['message', 'pmessage', 'smessage']);
