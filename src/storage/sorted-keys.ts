/**
 * A sorted set of keys with prefix range scans, shared by the backends'
 * in-memory indexes: O(log n) to find where a prefix (or a page) starts, so a
 * paged list costs O(log n + page) rather than a sort per call.
 */

/** Largest chunk before it is split; keeps each insert's array shift small. */
const MAX_CHUNK = 512;

/**
 * A set of strings kept in JavaScript string order, scanned by prefix. Stored as
 * a list of sorted chunks (a flat B-tree of height 2) so an insert or delete
 * shifts at most one chunk rather than the whole array.
 */
export class SortedKeys {
  /** Non-empty sorted chunks; every key of chunk i is below every key of chunk i+1. */
  private chunks: string[][] = [];
  private n = 0;

  /** Builds the set from any keys (sorted and de-duplicated here). */
  constructor(initial: Iterable<string> = []) {
    const keys = [...new Set(initial)].sort(compareKeys);
    for (let i = 0; i < keys.length; i += MAX_CHUNK / 2) this.chunks.push(keys.slice(i, i + MAX_CHUNK / 2));
    this.n = keys.length;
  }

  /** Number of keys held. */
  get size(): number {
    return this.n;
  }

  /** Adds a key (no-op when present). */
  insert(key: string): void {
    const chunks = this.chunks;
    if (chunks.length === 0) {
      chunks.push([key]);
      this.n = 1;
      return;
    }
    // The first chunk whose last key is >= key, or the last chunk when key is the largest.
    let ci = chunkAtOrAfter(chunks, key, false);
    if (ci === chunks.length) ci--;
    const chunk = chunks[ci]!;
    const i = lowerBound(chunk, key);
    if (chunk[i] === key) return;
    if (i === chunk.length) chunk.push(key);
    else chunk.splice(i, 0, key);
    this.n++;
    if (chunk.length > MAX_CHUNK) chunks.splice(ci + 1, 0, chunk.splice(MAX_CHUNK / 2));
  }

  /** Removes a key (no-op when absent). */
  delete(key: string): void {
    const ci = chunkAtOrAfter(this.chunks, key, false);
    const chunk = this.chunks[ci];
    if (!chunk) return;
    const i = lowerBound(chunk, key);
    if (chunk[i] !== key) return;
    chunk.splice(i, 1);
    this.n--;
    if (chunk.length === 0) this.chunks.splice(ci, 1);
  }

  /** Keys starting with `prefix`, in order, strictly after `startAfter` when given. */
  *scan(prefix: string, startAfter?: string): Generator<string> {
    const chunks = this.chunks;
    const after = startAfter !== undefined && startAfter >= prefix;
    let ci = after ? chunkAtOrAfter(chunks, startAfter, true) : chunkAtOrAfter(chunks, prefix, false);
    if (ci === chunks.length) return;
    let i = after ? upperBound(chunks[ci]!, startAfter) : lowerBound(chunks[ci]!, prefix);
    for (; ci < chunks.length; ci++, i = 0) {
      const chunk = chunks[ci]!;
      for (; i < chunk.length; i++) {
        const k = chunk[i]!;
        // Keys with a common prefix are contiguous, so the first miss ends the range.
        if (!k.startsWith(prefix)) return;
        yield k;
      }
    }
  }

  /** Number of keys starting with `prefix`. */
  count(prefix: string): number {
    if (prefix === '') return this.n;
    const chunks = this.chunks;
    let ci = chunkAtOrAfter(chunks, prefix, false);
    if (ci === chunks.length) return 0;
    let i = lowerBound(chunks[ci]!, prefix);
    let total = 0;
    for (; ci < chunks.length; ci++, i = 0) {
      const chunk = chunks[ci]!;
      if (chunk[chunk.length - 1]!.startsWith(prefix)) {
        total += chunk.length - i;
        continue;
      }
      // The range ends inside this chunk: "has the prefix" is true up to its end, then false.
      let lo = i;
      let hi = chunk.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (chunk[mid]!.startsWith(prefix)) lo = mid + 1;
        else hi = mid;
      }
      return total + lo - i;
    }
    return total;
  }
}

/** The key order every backend lists in (UTF-16 code unit order, as `<` on strings). */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Index of the first chunk whose last key is >= key (> key when `strict`); chunks.length if none. */
function chunkAtOrAfter(chunks: readonly string[][], key: string, strict: boolean): number {
  let lo = 0;
  let hi = chunks.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const last = chunks[mid]![chunks[mid]!.length - 1]!;
    if (last < key || (strict && last === key)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first element >= key. */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first element > key. */
function upperBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
