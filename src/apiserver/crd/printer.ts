/**
 * Table printing of custom resources (apiextensions
 * pkg/registry/customresource/tableconvertor): a Name column, then the
 * version's additionalPrinterColumns (or Age from creationTimestamp when it
 * declares none), cells computed with the Kubernetes JSONPath dialect.
 */
import { humanDuration } from '../printers/format.js';
import { findJsonPathResults, jsonPathSyntaxError, printJsonPathResults } from './jsonpath.js';
import type { CRDVersion, PrinterColumn } from './types.js';
import { isObject } from './util.js';

/** One Table column definition (meta/v1 TableColumnDefinition). */
export interface CRDColumn {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

/** The printer for one CRD version. */
export interface CRDPrinter {
  columns: CRDColumn[];
  /** The cells of `obj`'s row; `now` is the clock for date columns. */
  row(obj: unknown, now: Date): unknown[];
}

const NAME_DESCRIPTION =
  'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names';
const CREATION_TIMESTAMP_DESCRIPTION =
  'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata';

/** Go's time.Parse(time.RFC3339, s) acceptance. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** ConvertToHumanReadableDateType of a timestamp string: `<invalid>` if unparsable, `<unknown>` for the zero time. */
function dateCell(s: string, now: Date): string {
  if (s === '' || s === 'null') return '<unknown>';
  if (!RFC3339.test(s)) return '<invalid>';
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) return '<invalid>';
  if (s.startsWith('0001-01-01T00:00:00') && ms === Date.parse('0001-01-01T00:00:00Z')) return '<unknown>';
  return humanDuration(now.getTime() - ms);
}

/** cellForJSONValue: the typed cell for a non-string column. */
function cellFor(type: string, value: unknown, now: Date): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'integer':
      return typeof value === 'number' ? Math.trunc(value) : null;
    case 'number':
      return typeof value === 'number' ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    case 'string':
      return typeof value === 'string' ? value : null;
    case 'date':
      return typeof value === 'string' ? dateCell(value, now) : null;
    default:
      return null;
  }
}

/**
 * Builds the table printer for a CRD version entry. Throws
 * `unrecognized column definition "<path>"` for an unparsable column path,
 * as upstream's tableconvertor.New.
 */
export function crdPrinter(version: CRDVersion): CRDPrinter {
  const declared: PrinterColumn[] =
    version.additionalPrinterColumns && version.additionalPrinterColumns.length > 0
      ? version.additionalPrinterColumns
      : [{ name: 'Age', type: 'date', description: CREATION_TIMESTAMP_DESCRIPTION, jsonPath: '.metadata.creationTimestamp' }];
  const columns: CRDColumn[] = [{ name: 'Name', type: 'string', format: 'name', description: NAME_DESCRIPTION, priority: 0 }];
  const paths: string[] = [];
  for (const c of declared) {
    const path = c.jsonPath ?? '';
    if (jsonPathSyntaxError(`{${path}}`) !== undefined) throw new Error(`unrecognized column definition ${JSON.stringify(path)}`);
    paths.push(path);
    columns.push({
      name: c.name ?? '',
      type: c.type ?? '',
      format: c.format ?? '',
      description: c.description || `Custom resource definition column (in JSONPath format): ${path}`,
      priority: c.priority ?? 0,
    });
  }
  return {
    columns,
    row(obj: unknown, now: Date): unknown[] {
      const meta = isObject(obj) && isObject(obj.metadata) ? obj.metadata : {};
      const cells: unknown[] = [typeof meta.name === 'string' ? meta.name : ''];
      paths.forEach((path, i) => {
        const type = columns[i + 1]!.type;
        let results: unknown[][];
        try {
          results = findJsonPathResults(`{${path}}`, obj);
        } catch {
          cells.push(null);
          return;
        }
        const first = results[0];
        if (!first || first.length === 0) {
          cells.push(null);
          return;
        }
        const value = first[0];
        // String columns print whatever was found as JSONPath text output; other types need a matching JSON type.
        cells.push(type === 'string' ? printJsonPathResults([value]) : cellFor(type, value, now));
      });
      return cells;
    },
  };
}
