/**
 * A resource's behaviour: the small set of plain functions the generic store
 * calls around create, update and delete (upstream's RESTCreateStrategy,
 * RESTUpdateStrategy and RESTDeleteStrategy, folded into one object).
 */
import type { FieldError } from '../../api/errors.js';

/** Who is making a request. */
export interface UserInfo {
  name: string;
  uid?: string;
  groups: string[];
}

/** Per-request facts a strategy may need. */
export interface RequestContext {
  user: UserInfo;
  /** Namespace from the URL ('' for cluster-scoped). */
  namespace: string;
  dryRun: boolean;
  /** Field manager for managedFields. */
  fieldManager: string;
  /** Warnings to send back as `Warning: 299` headers. */
  warnings: string[];
  now: Date;
}

/** The per-resource hooks of the generic store; every member is optional. */
export interface Strategy<T = any> {
  /** Maintain metadata.generation: 1 on create, +1 on every change outside metadata and status. */
  trackGeneration?: boolean;
  /** Accept PUT for an object that does not exist (creates it). */
  allowCreateOnUpdate?: boolean;
  /** Accept PUT without metadata.resourceVersion (default true). */
  allowUnconditionalUpdate?: boolean;
  /** Keep a status sent with a create (nodes report their own); other resources start with an empty status. */
  keepStatusOnCreate?: boolean;
  /** True while something other than metadata.finalizers holds a deleting object (a Namespace's spec.finalizers). */
  holdsDeletion?(obj: T): boolean;
  /** Runs on an object that has just been marked for deletion (a Namespace turns Terminating). */
  markDeleting?(obj: T): void;
  /** Return the deleted object from DELETE instead of a Success Status. */
  returnDeletedObject?: boolean;
  /** Fields the object starts with besides what the client sent, e.g. the status a new Pod gets. */
  prepareForCreate?(obj: T, ctx: RequestContext): void;
  /** Carries over or resets fields on update, e.g. immutable server-set fields. `subresource` is '' for the main resource. */
  prepareForUpdate?(obj: T, old: T, ctx: RequestContext, subresource: string): void;
  /** Extra validation beyond the built-in per-kind rules. */
  validate?(obj: T, ctx: RequestContext): FieldError[];
  /** Extra validation of an update beyond the built-in per-kind rules. */
  validateUpdate?(obj: T, old: T, ctx: RequestContext): FieldError[];
  /**
   * Claims resources the object needs before it is stored (e.g. a Service's
   * cluster IP). Returns an undo to run if the write then fails.
   */
  allocate?(obj: T, old: T | undefined, ctx: RequestContext): Promise<(() => void) | void> | (() => void) | void;
  /** Refuses a delete by throwing an ApiError (e.g. the system namespaces may not be deleted). */
  validateDelete?(obj: T, ctx: RequestContext): void;
  /** Releases what `allocate` claimed once the object is gone. */
  release?(obj: T): void;
  /**
   * The grace period for a delete: 0 deletes at once; > 0 sets deletionTimestamp
   * and leaves removal to the node (pods). `requested` is DeleteOptions.gracePeriodSeconds.
   */
  gracePeriod?(obj: T, requested: number | undefined): number;
  /** Status written through the status subresource: which parts of the new object to keep. */
  prepareForStatusUpdate?(obj: T, old: T, ctx: RequestContext): void;
}
