/**
 * The PATCH verb's patch application: picks JSON patch, JSON merge patch or
 * strategic merge patch by content type and answers malformed or
 * inapplicable patches with the status upstream's
 * apiserver/pkg/endpoints/handlers/patch.go returns. Server-side apply
 * (`application/apply-patch+yaml`) lives elsewhere.
 */

import { ApiError, errors } from '../../api/errors.js';
import type { SchemaNode, SchemaResolver } from '../../api/schema.js';
import { isMap, jsonKindName, parseJsonBody } from './gojson.js';
import { applyJsonPatch } from './jsonpatch.js';
import { applyMergePatch, BAD_JSON_PATCH } from './mergepatch.js';
import { applyStrategicMergePatch } from './strategic.js';

export { applyJsonPatch, MAX_JSON_PATCH_OPERATIONS } from './jsonpatch.js';
export { applyMergePatch } from './mergepatch.js';
export { applyStrategicMergePatch } from './strategic.js';

/** The patch content types (types.PatchType). */
export const PatchType = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

/** What applyPatch needs to know about the resource being patched. */
export interface PatchContext {
  /** Resolver for the schema's `$ref`s (built-in definitions). */
  resolver?: SchemaResolver;
  /** Root schema of the object, e.g. `{ $ref: '#/definitions/io.k8s.api.apps.v1.Deployment' }`. */
  schema?: SchemaNode;
  /** False for custom resources, which upstream serves without strategic merge patch. */
  allowStrategic: boolean;
}

/** The patch types a resource accepts, in upstream's order (installer.go / crdHandler). */
export function supportedPatchTypes(allowStrategic: boolean): string[] {
  return allowStrategic
    ? [PatchType.json, PatchType.merge, PatchType.strategic, PatchType.apply]
    : [PatchType.json, PatchType.merge, PatchType.apply];
}

/** The media type without parameters, as upstream strips `; charset=...`. */
export function patchMediaType(contentType: string): string {
  const idx = contentType.indexOf(';');
  return idx > 0 ? contentType.slice(0, idx) : contentType;
}

/** 415 for a content type the resource does not accept (negotiation.NewUnsupportedMediaTypeError). */
export function unsupportedPatchType(allowStrategic: boolean): ApiError {
  return new ApiError(
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${supportedPatchTypes(allowStrategic).join(', ')}`,
  );
}

/**
 * Applies the raw patch body to `doc` according to the request's content
 * type and returns the patched object; `doc` is never mutated. Throws
 * ApiError: 415 for an unaccepted content type, 400 for a body that cannot be
 * decoded or has malformed directives, 413 for too many JSON patch
 * operations, 422 for a JSON patch that does not apply.
 */
export function applyPatch(contentType: string, doc: unknown, patchBody: string, ctx: PatchContext): unknown {
  const type = patchMediaType(contentType);
  if (!supportedPatchTypes(ctx.allowStrategic).includes(type)) throw unsupportedPatchType(ctx.allowStrategic);
  switch (type) {
    case PatchType.json:
      return applyJsonPatch(doc, parseJsonBody(patchBody));
    case PatchType.merge: {
      // jsonpatch.MergePatch reports any undecodable patch as ErrBadJSONPatch.
      let patch: unknown;
      try {
        patch = JSON.parse(patchBody);
      } catch {
        throw new ApiError('BadRequest', BAD_JSON_PATCH);
      }
      return applyMergePatch(doc, patch);
    }
    case PatchType.strategic: {
      const patch = parseJsonBody(patchBody);
      if (patch !== null && !isMap(patch)) {
        throw new ApiError('BadRequest', `json: cannot unmarshal ${jsonKindName(patch)} into Go value of type map[string]interface {}`);
      }
      if (!ctx.resolver || !ctx.schema) {
        // mergepatch.ErrUnsupportedStrategicMergePatchFormat, a 400 in interpretStrategicMergePatchError.
        throw new ApiError('BadRequest', 'strategic merge patch format is not supported');
      }
      return applyStrategicMergePatch(doc, patch, ctx.resolver, ctx.schema);
    }
    default:
      throw errors.internal(new Error(`${type} is handled by server-side apply, not by applyPatch`));
  }
}
