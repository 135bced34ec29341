/**
 * The one error type that reaches API clients: an ApiError becomes a
 * `Status` object (meta/v1) with the HTTP code, reason and field causes that
 * upstream Kubernetes returns for the same failure.
 */

/** The closed set of `Status.reason` values Kubernetes uses (metav1.StatusReason). */
export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Expired'
  | 'Invalid'
  | 'ServerTimeout'
  | 'Timeout'
  | 'TooManyRequests'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'InternalError'
  | 'ServiceUnavailable'
  | '';

/** Cause types used in field errors (metav1.CauseType / field.ErrorType). */
export type FieldErrorType =
  | 'FieldValueNotFound'
  | 'FieldValueRequired'
  | 'FieldValueDuplicate'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'InternalError'
  | 'FieldValueTypeInvalid'
  | 'FieldManagerConflict'
  | 'ResourceVersionTooLarge'
  | 'UnexpectedServerResponse';

/** One problem with one field, as upstream's field.Error. */
export interface FieldError {
  type: FieldErrorType;
  /** Dotted path with indices, e.g. `spec.containers[0].name`. */
  field: string;
  /** The offending value, when there is one worth showing. */
  value?: unknown;
  /** Extra text (what upstream calls Detail). */
  detail?: string;
  /** For NotSupported: the allowed values. */
  allowed?: readonly string[];
}

/** Wire shape of a Status cause. */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** Wire shape of meta/v1 Status. */
export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, unknown>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: StatusReason;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    uid?: string;
    causes?: StatusCause[];
    retryAfterSeconds?: number;
  };
  code: number;
}

const FIELD_ERROR_TEXT: Record<FieldErrorType, string> = {
  FieldValueNotFound: 'Not found',
  FieldValueRequired: 'Required value',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueInvalid: 'Invalid value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueForbidden: 'Forbidden',
  FieldValueTooLong: 'Too long',
  FieldValueTooMany: 'Too many',
  InternalError: 'Internal error',
  FieldValueTypeInvalid: 'Invalid value',
  FieldManagerConflict: 'conflict',
  ResourceVersionTooLarge: 'Too large resource version',
  UnexpectedServerResponse: 'Unexpected server response',
};

/**
 * How upstream's field.Error prints a bad value: %q for strings, %v for numbers
 * and booleans, %#v otherwise — `[]string{"a", "b"}` for string lists. Other
 * composite values print as JSON (Go would print its struct syntax).
 */
function renderValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
    return `[]string{${value.map((v) => JSON.stringify(v)).join(', ')}}`;
  }
  return JSON.stringify(value);
}

/** Formats one field error the way upstream's field.Error.Error() does. */
export function fieldErrorMessage(e: FieldError): string {
  // upstream: "<field>: <type text>[: <value>][: <detail>]"; Required/Forbidden/TooLong etc. omit the value.
  const parts: string[] = [];
  const text = FIELD_ERROR_TEXT[e.type];
  const body = fieldErrorBody(e);
  parts.push(e.field ? `${e.field}: ${text}` : text);
  if (body) parts.push(body);
  return parts.join(': ');
}

/** The part of a field error message after the type text (upstream's ErrorBody minus the type). */
function fieldErrorBody(e: FieldError): string {
  const omitValue =
    e.type === 'FieldValueRequired' ||
    e.type === 'FieldValueForbidden' ||
    e.type === 'FieldValueTooLong' ||
    e.type === 'InternalError' ||
    e.type === 'FieldManagerConflict';
  const bits: string[] = [];
  if (!omitValue && e.value !== undefined) bits.push(renderValue(e.value));
  if (e.type === 'FieldValueNotSupported' && e.allowed && e.allowed.length > 0) {
    bits.push(`supported values: ${e.allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  } else if (e.detail) {
    bits.push(e.detail);
  }
  return bits.join(': ');
}

/** Builders for field errors, mirroring upstream's field.Required/Invalid/... */
export const field = {
  required: (path: string, detail = ''): FieldError => ({ type: 'FieldValueRequired', field: path, detail }),
  invalid: (path: string, value: unknown, detail = ''): FieldError => ({ type: 'FieldValueInvalid', field: path, value, detail }),
  notSupported: (path: string, value: unknown, allowed: readonly string[]): FieldError => ({
    type: 'FieldValueNotSupported',
    field: path,
    value,
    allowed,
  }),
  forbidden: (path: string, detail: string): FieldError => ({ type: 'FieldValueForbidden', field: path, detail }),
  duplicate: (path: string, value: unknown): FieldError => ({ type: 'FieldValueDuplicate', field: path, value }),
  notFound: (path: string, value: unknown): FieldError => ({ type: 'FieldValueNotFound', field: path, value }),
  tooLong: (path: string, value: unknown, max: number): FieldError => ({
    type: 'FieldValueTooLong',
    field: path,
    value,
    detail: `may not be more than ${max} bytes`,
  }),
  tooMany: (path: string, actual: number, max: number): FieldError => ({
    type: 'FieldValueTooMany',
    field: path,
    value: actual,
    detail: `must have at most ${max} items`,
  }),
  typeInvalid: (path: string, value: unknown, detail: string): FieldError => ({
    type: 'FieldValueTypeInvalid',
    field: path,
    value,
    detail,
  }),
  internal: (path: string, detail: string): FieldError => ({ type: 'InternalError', field: path, detail }),
};

const CODE_FOR_REASON: Partial<Record<StatusReason, number>> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  AlreadyExists: 409,
  Conflict: 409,
  Gone: 410,
  Expired: 410,
  RequestEntityTooLarge: 413,
  UnsupportedMediaType: 415,
  Invalid: 422,
  TooManyRequests: 429,
  InternalError: 500,
  ServiceUnavailable: 503,
  ServerTimeout: 500,
  Timeout: 504,
};

/** Identifies the object an error is about (group is "" for core). */
export interface Qualified {
  group: string;
  /** Plural resource name (NotFound/AlreadyExists/Conflict) or Kind (Invalid), as upstream uses each. */
  resource: string;
}

/** The single error type for anything that reaches an API client. */
export class ApiError extends Error {
  readonly code: number;
  readonly reason: StatusReason;
  readonly details: StatusObject['details'];

  constructor(reason: StatusReason, message: string, details?: StatusObject['details'], code?: number) {
    super(message);
    this.name = 'ApiError';
    this.reason = reason;
    this.code = code ?? CODE_FOR_REASON[reason] ?? 500;
    this.details = details;
  }

  /** The wire Status object for this error. */
  toStatus(): StatusObject {
    const s: StatusObject = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) {
      // upstream StatusDetails fields are all `omitempty`: a core group ("") is left out.
      const d = Object.fromEntries(Object.entries(this.details).filter(([, v]) => v !== undefined && v !== '')) as NonNullable<StatusObject['details']>;
      if (Object.keys(d).length > 0) s.details = d;
    }
    return s;
  }

  static is(e: unknown): e is ApiError {
    return e instanceof ApiError;
  }
}

/** "pods" / "deployments.apps": upstream's GroupResource.String(). */
export function groupResource(q: Qualified): string {
  return q.group ? `${q.resource}.${q.group}` : q.resource;
}

/** Constructors for the common API errors, with upstream's exact message text. */
export const errors = {
  notFound: (q: Qualified, name: string): ApiError =>
    new ApiError('NotFound', `${groupResource(q)} "${name}" not found`, { name, group: q.group, kind: q.resource }),
  alreadyExists: (q: Qualified, name: string): ApiError =>
    new ApiError('AlreadyExists', `${groupResource(q)} "${name}" already exists`, {
      name,
      group: q.group,
      kind: q.resource,
    }),
  conflict: (q: Qualified, name: string, why: string): ApiError =>
    new ApiError('Conflict', `Operation cannot be fulfilled on ${groupResource(q)} "${name}": ${why}`, {
      name,
      group: q.group,
      kind: q.resource,
    }),
  /** 422 Invalid: `<Kind>.<group> "<name>" is invalid: <errors>` (kind, not plural, as upstream). */
  invalid: (group: string, kind: string, name: string, errs: readonly FieldError[]): ApiError => {
    const qualifiedKind = group ? `${kind}.${group}` : kind;
    const msgs = errs.map(fieldErrorMessage);
    const agg = msgs.length === 1 ? msgs[0] : `[${msgs.join(', ')}]`;
    return new ApiError('Invalid', `${qualifiedKind} "${name}" is invalid: ${agg}`, {
      name,
      group,
      kind,
      causes: errs.map((e) => ({ reason: e.type, message: fieldErrorMessage(e).slice(e.field ? e.field.length + 2 : 0), field: e.field })),
    });
  },
  badRequest: (message: string, causes?: StatusCause[]): ApiError =>
    new ApiError('BadRequest', message, causes ? { causes } : undefined),
  forbidden: (q: Qualified, name: string, why: string): ApiError =>
    new ApiError(
      'Forbidden',
      name ? `${groupResource(q)} "${name}" is forbidden: ${why}` : `${groupResource(q)} is forbidden: ${why}`,
      { name: name || undefined, group: q.group, kind: q.resource },
    ),
  methodNotSupported: (q: Qualified, action: string): ApiError =>
    new ApiError('MethodNotAllowed', `${action} is not supported on resources of kind "${groupResource(q)}"`, {
      group: q.group,
      kind: q.resource,
    }),
  gone: (message: string): ApiError => new ApiError('Expired', message, undefined, 410),
  tooLarge: (message = 'the server has received a request that is too large'): ApiError =>
    new ApiError('RequestEntityTooLarge', message),
  unsupportedMediaType: (contentType: string): ApiError =>
    new ApiError('UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/merge-patch+json, application/json-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml`, undefined, 415),
  unauthorized: (): ApiError => new ApiError('Unauthorized', 'Unauthorized'),
  internal: (err: unknown): ApiError =>
    new ApiError('InternalError', `Internal error occurred: ${err instanceof Error ? err.message : String(err)}`, {
      causes: [{ message: err instanceof Error ? err.message : String(err) }],
    }),
  notAcceptable: (message: string): ApiError => new ApiError('NotAcceptable', message),
  timeout: (message: string): ApiError => new ApiError('Timeout', message),
};
