/**
 * The CustomResourceDefinition machinery: CRD validation and defaulting,
 * custom object validation, pruning and defaulting against the structural
 * schema, table printing, and the JSONPath dialect. Pure functions; the
 * apiserver wires them into CRD registration and custom resource serving.
 */
export { validateCRD, defaultCRD } from './validation.js';
export { validateCustomObject, validateListTypes } from './custom-object.js';
export { validateAgainstSchema } from './openapi-validate.js';
export { pruneObject, pruneNonNullableNulls } from './prune.js';
export { applySchemaDefaults } from './defaulting.js';
export { crdPrinter, type CRDColumn, type CRDPrinter } from './printer.js';
export { evaluateJsonPath, findJsonPathResults, executeJsonPath, printJsonPathResults, jsonPathSyntaxError, type JsonPathOptions } from './jsonpath.js';
export { toSchemaNode } from './schema-node.js';
export { validateStructural } from './structural.js';
export type * from './types.js';
