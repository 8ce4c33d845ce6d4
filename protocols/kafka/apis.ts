/**
 * Kafka protocol tables: API names by key, the first "flexible" version of
 * each API (which decides request header v2 / response header v1, compact
 * strings and tagged fields), and error codes.
 *
 * Source: the Kafka protocol guide (kafka.apache.org/protocol) and the
 * message definitions' `flexibleVersions` (clients/src/main/resources/common/message).
 */
import type { ResponseStatus } from '../types';

/** API names by api key (index). */
export const API_NAMES: readonly string[] = [
  'Produce', 'Fetch', 'ListOffsets', 'Metadata', 'LeaderAndIsr', 'StopReplica', 'UpdateMetadata', 'ControlledShutdown',
  'OffsetCommit', 'OffsetFetch', 'FindCoordinator', 'JoinGroup', 'Heartbeat', 'LeaveGroup', 'SyncGroup', 'DescribeGroups',
  'ListGroups', 'SaslHandshake', 'ApiVersions', 'CreateTopics', 'DeleteTopics', 'DeleteRecords', 'InitProducerId',
  'OffsetForLeaderEpoch', 'AddPartitionsToTxn', 'AddOffsetsToTxn', 'EndTxn', 'WriteTxnMarkers', 'TxnOffsetCommit',
  'DescribeAcls', 'CreateAcls', 'DeleteAcls', 'DescribeConfigs', 'AlterConfigs', 'AlterReplicaLogDirs', 'DescribeLogDirs',
  'SaslAuthenticate', 'CreatePartitions', 'CreateDelegationToken', 'RenewDelegationToken', 'ExpireDelegationToken',
  'DescribeDelegationToken', 'DeleteGroups', 'ElectLeaders', 'IncrementalAlterConfigs', 'AlterPartitionReassignments',
  'ListPartitionReassignments', 'OffsetDelete', 'DescribeClientQuotas', 'AlterClientQuotas', 'DescribeUserScramCredentials',
  'AlterUserScramCredentials', 'Vote', 'BeginQuorumEpoch', 'EndQuorumEpoch', 'DescribeQuorum', 'AlterPartition',
  'UpdateFeatures', 'Envelope', 'FetchSnapshot', 'DescribeCluster', 'DescribeProducers', 'BrokerRegistration',
  'BrokerHeartbeat', 'UnregisterBroker', 'DescribeTransactions', 'ListTransactions', 'AllocateProducerIds',
  'ConsumerGroupHeartbeat', 'ConsumerGroupDescribe', 'ControllerRegistration', 'GetTelemetrySubscriptions', 'PushTelemetry',
  'AssignReplicasToDirs', 'ListClientMetricsResources', 'DescribeTopicPartitions',
];

/** Highest api key we know. */
export const MAX_API_KEY = API_NAMES.length - 1;

// First flexible version per api key; 99 = never flexible.
const FLEXIBLE_FROM: readonly number[] = [
  9, 12, 6, 9, 4, 2, 6, 3, // Produce … ControlledShutdown
  8, 6, 3, 6, 4, 4, 4, 5, // OffsetCommit … DescribeGroups
  3, 99, 3, 5, 4, 2, 2, // ListGroups, SaslHandshake, ApiVersions, CreateTopics, DeleteTopics, DeleteRecords, InitProducerId
  4, 3, 3, 3, 1, 3, // OffsetForLeaderEpoch … TxnOffsetCommit
  2, 2, 2, 4, 2, 2, 2, // DescribeAcls … DescribeLogDirs
  2, 2, 2, 2, 2, // SaslAuthenticate … ExpireDelegationToken
  2, 2, 2, 1, 0, // DescribeDelegationToken … AlterPartitionReassignments
  0, 99, 1, 1, 0, // ListPartitionReassignments, OffsetDelete, DescribeClientQuotas, AlterClientQuotas, DescribeUserScramCredentials
  0, 0, 1, 1, 0, 0, // AlterUserScramCredentials, Vote, BeginQuorumEpoch, EndQuorumEpoch, DescribeQuorum, AlterPartition
];

/** Whether `apiKey` at `version` uses the flexible encoding (request header v2). */
export function isFlexible(apiKey: number, version: number): boolean {
  const from = apiKey < FLEXIBLE_FROM.length ? FLEXIBLE_FROM[apiKey] : 0;
  return version >= from;
}

/**
 * Whether the response header has tagged fields (response header v1).
 * ApiVersions responses always use header v0, so that a client can read the
 * reply to a version it sent before knowing what the broker supports.
 */
export function responseHeaderFlexible(apiKey: number, version: number): boolean {
  return apiKey !== API_VERSIONS && isFlexible(apiKey, version);
}

/** Api key of Produce (the parser reads the bodies of the api keys below). */
export const PRODUCE = 0;
/** Api key of Fetch. */
export const FETCH = 1;
/** Api key of ListOffsets. */
export const LIST_OFFSETS = 2;
/** Api key of Metadata. */
export const METADATA = 3;
/** Api key of OffsetCommit. */
export const OFFSET_COMMIT = 8;
/** Api key of OffsetFetch. */
export const OFFSET_FETCH = 9;
/** Api key of FindCoordinator. */
export const FIND_COORDINATOR = 10;
/** Api key of JoinGroup. */
export const JOIN_GROUP = 11;
/** Api key of Heartbeat. */
export const HEARTBEAT = 12;
/** Api key of LeaveGroup. */
export const LEAVE_GROUP = 13;
/** Api key of SyncGroup. */
export const SYNC_GROUP = 14;
/** Api key of DescribeGroups. */
export const DESCRIBE_GROUPS = 15;
/** Api key of ListGroups. */
export const LIST_GROUPS = 16;
/** Api key of SaslHandshake. */
export const SASL_HANDSHAKE = 17;
/** Api key of ApiVersions. */
export const API_VERSIONS = 18;
/** Api key of CreateTopics. */
export const CREATE_TOPICS = 19;
/** Api key of DeleteTopics. */
export const DELETE_TOPICS = 20;
/** Api key of InitProducerId. */
export const INIT_PRODUCER_ID = 22;
/** Api key of SaslAuthenticate. */
export const SASL_AUTHENTICATE = 36;

/** Error names by code (index = code); -1 is {@link UNKNOWN_SERVER_ERROR}. */
const ERROR_NAMES: readonly string[] = [
  'NONE', 'OFFSET_OUT_OF_RANGE', 'CORRUPT_MESSAGE', 'UNKNOWN_TOPIC_OR_PARTITION', 'INVALID_FETCH_SIZE',
  'LEADER_NOT_AVAILABLE', 'NOT_LEADER_OR_FOLLOWER', 'REQUEST_TIMED_OUT', 'BROKER_NOT_AVAILABLE', 'REPLICA_NOT_AVAILABLE',
  'MESSAGE_TOO_LARGE', 'STALE_CONTROLLER_EPOCH', 'OFFSET_METADATA_TOO_LARGE', 'NETWORK_EXCEPTION',
  'COORDINATOR_LOAD_IN_PROGRESS', 'COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR', 'INVALID_TOPIC_EXCEPTION',
  'RECORD_LIST_TOO_LARGE', 'NOT_ENOUGH_REPLICAS', 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', 'INVALID_REQUIRED_ACKS',
  'ILLEGAL_GENERATION', 'INCONSISTENT_GROUP_PROTOCOL', 'INVALID_GROUP_ID', 'UNKNOWN_MEMBER_ID', 'INVALID_SESSION_TIMEOUT',
  'REBALANCE_IN_PROGRESS', 'INVALID_COMMIT_OFFSET_SIZE', 'TOPIC_AUTHORIZATION_FAILED', 'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED', 'INVALID_TIMESTAMP', 'UNSUPPORTED_SASL_MECHANISM', 'ILLEGAL_SASL_STATE',
  'UNSUPPORTED_VERSION', 'TOPIC_ALREADY_EXISTS', 'INVALID_PARTITIONS', 'INVALID_REPLICATION_FACTOR',
  'INVALID_REPLICA_ASSIGNMENT', 'INVALID_CONFIG', 'NOT_CONTROLLER', 'INVALID_REQUEST', 'UNSUPPORTED_FOR_MESSAGE_FORMAT',
  'POLICY_VIOLATION', 'OUT_OF_ORDER_SEQUENCE_NUMBER', 'DUPLICATE_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH',
  'INVALID_TXN_STATE', 'INVALID_PRODUCER_ID_MAPPING', 'INVALID_TRANSACTION_TIMEOUT', 'CONCURRENT_TRANSACTIONS',
  'TRANSACTION_COORDINATOR_FENCED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'SECURITY_DISABLED', 'OPERATION_NOT_ATTEMPTED',
  'KAFKA_STORAGE_ERROR', 'LOG_DIR_NOT_FOUND', 'SASL_AUTHENTICATION_FAILED', 'UNKNOWN_PRODUCER_ID', 'REASSIGNMENT_IN_PROGRESS',
  'DELEGATION_TOKEN_AUTH_DISABLED', 'DELEGATION_TOKEN_NOT_FOUND', 'DELEGATION_TOKEN_OWNER_MISMATCH',
  'DELEGATION_TOKEN_REQUEST_NOT_ALLOWED', 'DELEGATION_TOKEN_AUTHORIZATION_FAILED', 'DELEGATION_TOKEN_EXPIRED',
  'INVALID_PRINCIPAL_TYPE', 'NON_EMPTY_GROUP', 'GROUP_ID_NOT_FOUND', 'FETCH_SESSION_ID_NOT_FOUND',
  'INVALID_FETCH_SESSION_EPOCH', 'LISTENER_NOT_FOUND', 'TOPIC_DELETION_DISABLED', 'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH', 'UNSUPPORTED_COMPRESSION_TYPE', 'STALE_BROKER_EPOCH', 'OFFSET_NOT_AVAILABLE',
  'MEMBER_ID_REQUIRED', 'PREFERRED_LEADER_NOT_AVAILABLE', 'GROUP_MAX_SIZE_REACHED', 'FENCED_INSTANCE_ID',
  'ELIGIBLE_LEADERS_NOT_AVAILABLE', 'ELECTION_NOT_NEEDED', 'NO_REASSIGNMENT_IN_PROGRESS', 'GROUP_SUBSCRIBED_TO_TOPIC',
  'INVALID_RECORD', 'UNSTABLE_OFFSET_COMMIT',
];

/** Name of an error code; '' for NONE, `ERROR_<code>` for codes we do not know. */
export function errorName(code: number): string {
  if (code === 0) return '';
  if (code === -1) return 'UNKNOWN_SERVER_ERROR';
  return code > 0 && code < ERROR_NAMES.length ? ERROR_NAMES[code] : `ERROR_${code}`;
}

// Codes that say the request itself was wrong or not allowed — the client's
// fault — as opposed to the broker failing or being in transition.
const CLIENT_ERRORS = new Set<number>([
  1, 3, 4, 10, 12, 17, 18, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 42, 43, 44,
  47, 48, 49, 50, 53, 58, 59, 67, 68, 69, 70, 71, 73, 76, 79, 82, 86, 87,
]);

/** Response status of an error code. */
export function errorStatus(code: number): ResponseStatus {
  if (code === 0) return 'ok';
  return CLIENT_ERRORS.has(code) ? 'client_error' : 'server_error';
}
