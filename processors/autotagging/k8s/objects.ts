/**
 * The fields of Kubernetes objects the tagger reads, as the API server sends
 * them in JSON (list items and watch event objects). Every field is optional:
 * the input is another program's output and is checked as it is read.
 */

/** An owner reference (metadata.ownerReferences[]). */
export interface OwnerReference {
  apiVersion?: string;
  kind?: string;
  name?: string;
  uid?: string;
  controller?: boolean;
}

/** ObjectMeta. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

/** Any object: what the reflector handles. */
export interface KObject {
  kind?: string;
  apiVersion?: string;
  metadata?: ObjectMeta;
}

/** A container status (status.containerStatuses[]). */
export interface ContainerStatus {
  name?: string;
  image?: string;
  imageID?: string;
  /** `<runtime>://<id>`, e.g. `containerd://3f1c…`. */
  containerID?: string;
}

/** v1 Pod. */
export interface Pod extends KObject {
  spec?: {
    nodeName?: string;
    hostname?: string;
    hostNetwork?: boolean;
    containers?: Array<{ name?: string; image?: string }>;
    initContainers?: Array<{ name?: string; image?: string }>;
  };
  status?: {
    phase?: string;
    podIP?: string;
    podIPs?: Array<{ ip?: string }>;
    hostIP?: string;
    startTime?: string;
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
    ephemeralContainerStatuses?: ContainerStatus[];
  };
}

/** v1 Service. */
export interface Service extends KObject {
  spec?: { type?: string; clusterIP?: string; clusterIPs?: string[]; externalIPs?: string[] };
}

/** discovery.k8s.io/v1 EndpointSlice. */
export interface EndpointSlice extends KObject {
  addressType?: string;
  endpoints?: Array<{ addresses?: string[]; targetRef?: { kind?: string; name?: string; namespace?: string; uid?: string }; nodeName?: string }>;
}

/** v1 Node. */
export interface Node extends KObject {
  status?: { addresses?: Array<{ type?: string; address?: string }> };
}

/** The owner that controls an object: the `controller: true` reference, else the first. */
export function controllerOf(meta: ObjectMeta | undefined): OwnerReference | undefined {
  const refs = meta?.ownerReferences;
  if (!Array.isArray(refs) || refs.length === 0) return undefined;
  return refs.find((r) => r?.controller) ?? refs[0];
}

/** A string field, or '' when missing or not a string. */
export function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
