/**
 * The shapes every printer shares: meta.k8s.io/v1 TableColumnDefinition and
 * the KindPrinter contract, plus small builders for the columns most kinds repeat.
 */

/** One column of a meta.k8s.io/v1 Table. priority 0 columns always show; priority 1 only with `-o wide`. */
export interface TableColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

/** Prints objects of one kind as table rows. `now` is injected so tests are deterministic. */
export interface KindPrinter {
  columns: readonly TableColumnDefinition[];
  /** The cells of one object, one per column in column order (the server always prints wide). */
  row(obj: any, now: Date): unknown[];
}

/** A column definition; priority 1 marks a wide-only column. */
export function col(name: string, type: string, description: string, opts: { format?: string; priority?: number } = {}): TableColumnDefinition {
  return { name, type, format: opts.format ?? '', description, priority: opts.priority ?? 0 };
}

/** The Name column every printer starts with (format "name" lets kubectl print `kind/name`). */
export const NAME_COLUMN = col('Name', 'string', 'Name of the object, unique within its namespace.', { format: 'name' });

/** The Age column: time since metadata.creationTimestamp. */
export const AGE_COLUMN = col('Age', 'string', 'Time since the object was created (metadata.creationTimestamp).');

/** Wide-only Containers column of workload printers. */
export const CONTAINERS_COLUMN = col('Containers', 'string', 'Names of each container in the template.', { priority: 1 });

/** Wide-only Images column of workload printers. */
export const IMAGES_COLUMN = col('Images', 'string', 'Images referenced by each container in the template.', { priority: 1 });

/** Wide-only Selector column of workload printers. */
export const SELECTOR_COLUMN = col('Selector', 'string', 'Label selector for the pods this object manages.', { priority: 1 });
