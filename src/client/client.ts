/**
 * The client every component uses to talk to the API server: one narrow
 * interface with two transports — HTTP (a separate process, e.g. `kite agent`)
 * and in-process (components sharing the control plane's process: no
 * serialization, same behaviour). Errors are ApiErrors either way.
 */
import type { ApiError } from '../api/errors.js';

/** Addresses a resource: group ('' for core), version and plural resource name. */
export interface ResourceRef {
  group: string;
  version: string;
  resource: string;
}

/** Options of a list. */
export interface ListOpts {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

/** A list result. */
export interface ObjectList<T = any> {
  items: T[];
  resourceVersion: string;
  continue?: string;
}

/** One watch event. */
export interface ClientWatchEvent<T = any> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** Options of a watch. */
export interface WatchOpts {
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

/** A running watch. `done` settles when the stream ends (normally or with an error). */
export interface ClientWatch {
  stop(): void;
  done: Promise<void>;
}

/** Options of writes. */
export interface WriteOpts {
  fieldManager?: string;
  dryRun?: boolean;
  /** `status`, `scale`, `binding`, `finalize`, or '' for the object itself. */
  subresource?: string;
}

/** Options of a delete. */
export interface DeleteOpts {
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
}

/** Patch content types. */
export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

/** The operations every transport provides. Objects passed in are not modified. */
export interface Client {
  get<T = any>(ref: ResourceRef, namespace: string, name: string, subresource?: string): Promise<T>;
  list<T = any>(ref: ResourceRef, namespace: string, opts?: ListOpts): Promise<ObjectList<T>>;
  watch<T = any>(ref: ResourceRef, namespace: string, opts: WatchOpts, onEvent: (ev: ClientWatchEvent<T>) => void): Promise<ClientWatch>;
  create<T = any>(ref: ResourceRef, namespace: string, obj: T, opts?: WriteOpts): Promise<T>;
  update<T = any>(ref: ResourceRef, namespace: string, obj: T, opts?: WriteOpts): Promise<T>;
  patch<T = any>(ref: ResourceRef, namespace: string, name: string, type: PatchType, patch: unknown, opts?: WriteOpts & { force?: boolean }): Promise<T>;
  delete(ref: ResourceRef, namespace: string, name: string, opts?: DeleteOpts): Promise<void>;
}

/** True if `e` is an ApiError with this HTTP code. */
export function isStatus(e: unknown, code: number): e is ApiError {
  return !!e && typeof e === 'object' && (e as ApiError).code === code && (e as Error).name === 'ApiError';
}

/** Frequently used resources. */
export const R = {
  pods: { group: '', version: 'v1', resource: 'pods' },
  nodes: { group: '', version: 'v1', resource: 'nodes' },
  namespaces: { group: '', version: 'v1', resource: 'namespaces' },
  services: { group: '', version: 'v1', resource: 'services' },
  endpoints: { group: '', version: 'v1', resource: 'endpoints' },
  events: { group: '', version: 'v1', resource: 'events' },
  configmaps: { group: '', version: 'v1', resource: 'configmaps' },
  secrets: { group: '', version: 'v1', resource: 'secrets' },
  serviceaccounts: { group: '', version: 'v1', resource: 'serviceaccounts' },
  persistentvolumes: { group: '', version: 'v1', resource: 'persistentvolumes' },
  persistentvolumeclaims: { group: '', version: 'v1', resource: 'persistentvolumeclaims' },
  leases: { group: 'coordination.k8s.io', version: 'v1', resource: 'leases' },
  deployments: { group: 'apps', version: 'v1', resource: 'deployments' },
  replicasets: { group: 'apps', version: 'v1', resource: 'replicasets' },
  statefulsets: { group: 'apps', version: 'v1', resource: 'statefulsets' },
  daemonsets: { group: 'apps', version: 'v1', resource: 'daemonsets' },
  controllerrevisions: { group: 'apps', version: 'v1', resource: 'controllerrevisions' },
  jobs: { group: 'batch', version: 'v1', resource: 'jobs' },
  cronjobs: { group: 'batch', version: 'v1', resource: 'cronjobs' },
  storageclasses: { group: 'storage.k8s.io', version: 'v1', resource: 'storageclasses' },
  priorityclasses: { group: 'scheduling.k8s.io', version: 'v1', resource: 'priorityclasses' },
  endpointslices: { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices' },
  ingresses: { group: 'networking.k8s.io', version: 'v1', resource: 'ingresses' },
  ingressclasses: { group: 'networking.k8s.io', version: 'v1', resource: 'ingressclasses' },
} as const satisfies Record<string, ResourceRef>;
