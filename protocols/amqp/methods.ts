/**
 * AMQP 0-9-1 method table: names by (class id, method id), which methods
 * are synchronous requests, which are their replies, which are
 * asynchronous, and which carry content (a content header and body frames
 * follow them). Source: the AMQP 0-9-1 specification (amqp0-9-1.xml) and
 * RabbitMQ's extensions (Exchange.Bind/Unbind, Basic.Nack, Confirm,
 * Connection.Blocked/UpdateSecret).
 */

/**
 * What a method is in a conversation: a request the peer answers with a
 * specific reply (Sync), that reply (Reply), a method nobody answers
 * (Async), or Connection.Close / Channel.Close (Close: answered by CloseOk,
 * and may answer a pending request with an error).
 */
export const Kind = { Sync: 1, Reply: 2, Async: 3, Close: 4 } as const;
/** One of {@link Kind}. */
export type Kind = (typeof Kind)[keyof typeof Kind];

/** One method. */
export interface MethodInfo {
  /** `Class.Method`, as DeepFlow names them. */
  readonly name: string;
  readonly kind: Kind;
  /** For requests: the reply method id (GetEmpty also answers Basic.Get). */
  readonly reply: number;
  /** For replies: the request method id they answer. */
  readonly request: number;
  /** Content frames follow (Publish, Return, Deliver, GetOk). */
  readonly content: boolean;
}

const CLASSES: Record<number, string> = { 10: 'Connection', 20: 'Channel', 40: 'Exchange', 50: 'Queue', 60: 'Basic', 85: 'Confirm', 90: 'Tx' };

const TABLE = new Map<number, MethodInfo>();

function def(classId: number, methodId: number, method: string, kind: Kind, pair = 0, content = false): void {
  TABLE.set(classId * 65536 + methodId, {
    name: `${CLASSES[classId]}.${method}`,
    kind,
    reply: kind === Kind.Sync || kind === Kind.Close ? pair : 0,
    request: kind === Kind.Reply ? pair : 0,
    content,
  });
}

/** A request and its `-Ok` reply. */
function sync(classId: number, requestId: number, name: string, replyId = requestId + 1): void {
  def(classId, requestId, name, Kind.Sync, replyId);
  def(classId, replyId, `${name}Ok`, Kind.Reply, requestId);
}

// Connection
sync(10, 10, 'Start');
sync(10, 20, 'Secure');
sync(10, 30, 'Tune');
sync(10, 40, 'Open');
def(10, 50, 'Close', Kind.Close, 51);
def(10, 51, 'CloseOk', Kind.Reply, 50);
def(10, 60, 'Blocked', Kind.Async);
def(10, 61, 'Unblocked', Kind.Async);
sync(10, 70, 'UpdateSecret');
// Channel
sync(20, 10, 'Open');
sync(20, 20, 'Flow');
def(20, 40, 'Close', Kind.Close, 41);
def(20, 41, 'CloseOk', Kind.Reply, 40);
// Exchange
sync(40, 10, 'Declare');
sync(40, 20, 'Delete');
sync(40, 30, 'Bind');
sync(40, 40, 'Unbind', 51);
// Queue
sync(50, 10, 'Declare');
sync(50, 20, 'Bind');
sync(50, 30, 'Purge');
sync(50, 40, 'Delete');
sync(50, 50, 'Unbind');
// Basic
sync(60, 10, 'Qos');
sync(60, 20, 'Consume');
sync(60, 30, 'Cancel');
def(60, 40, 'Publish', Kind.Async, 0, true);
def(60, 50, 'Return', Kind.Async, 0, true);
def(60, 60, 'Deliver', Kind.Async, 0, true);
def(60, 70, 'Get', Kind.Sync, 71);
def(60, 71, 'GetOk', Kind.Reply, 70, true);
def(60, 72, 'GetEmpty', Kind.Reply, 70);
def(60, 80, 'Ack', Kind.Async);
def(60, 90, 'Reject', Kind.Async);
def(60, 100, 'RecoverAsync', Kind.Async);
sync(60, 110, 'Recover');
def(60, 120, 'Nack', Kind.Async);
// Confirm, Tx
sync(85, 10, 'Select');
sync(90, 10, 'Select');
sync(90, 20, 'Commit');
sync(90, 30, 'Rollback');

/** The method with these ids, if AMQP 0-9-1 defines it. */
export function method(classId: number, methodId: number): MethodInfo | undefined {
  return TABLE.get(classId * 65536 + methodId);
}

/** Reply codes (AMQP 0-9-1 constants) by value. */
export const REPLY_NAMES: Record<number, string> = {
  200: 'REPLY_SUCCESS', 311: 'CONTENT_TOO_LARGE', 312: 'NO_ROUTE', 313: 'NO_CONSUMERS', 320: 'CONNECTION_FORCED',
  402: 'INVALID_PATH', 403: 'ACCESS_REFUSED', 404: 'NOT_FOUND', 405: 'RESOURCE_LOCKED', 406: 'PRECONDITION_FAILED',
  501: 'FRAME_ERROR', 502: 'SYNTAX_ERROR', 503: 'COMMAND_INVALID', 504: 'CHANNEL_ERROR', 505: 'UNEXPECTED_FRAME',
  506: 'RESOURCE_ERROR', 530: 'NOT_ALLOWED', 540: 'NOT_IMPLEMENTED', 541: 'INTERNAL_ERROR',
};
