/**
 * Server-side apply and managedFields tracking (upstream's managedfields
 * package and structured-merge-diff): field sets with their FieldsV1
 * encoding, attribution of writes, apply with conflicts.
 */
export {
  applyServerSide,
  updateManagedFields,
  managerFromUserAgent,
  managerOrUserAgent,
  validateApplyPatch,
  validatePatchOptions,
  validateFieldManager,
  deepEqual,
  BEFORE_FIRST_APPLY,
  LAST_APPLIED_ANNOTATION,
  MAX_UPDATE_MANAGERS,
  FIELD_MANAGER_MAX_LENGTH,
  type ApplyOptions,
  type UpdateOptions,
} from './fieldmanager.js';
export {
  newSet,
  setInsert,
  setHas,
  setUnion,
  setIntersection,
  setDifference,
  setRecursiveDifference,
  setEmpty,
  setEquals,
  setIterate,
  setFromPaths,
  setToFieldsV1,
  setFromFieldsV1,
  serializePE,
  deserializePE,
  pathString,
  type FieldSet,
  type Path,
  type PathElement,
} from './fieldpath.js';
export { toFieldSet, compare, merge, removeItems, fillZero, TypedError, type Comparison, type TypedContext } from './typed.js';
export {
  decodeManagedFields,
  encodeManagedFields,
  managerIdentifier,
  type ManagedFieldsEntry,
  type Managed,
  type VersionedSet,
} from './managed.js';
