/** Small HTTP helpers shared by the API server's handlers: bodies, JSON replies, errors. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, errors } from '../api/errors.js';

/** Upstream's limit on request bodies (3 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/** Reads the request body; 413 past the limit. */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      req.resume();
      reject(new ApiError('RequestEntityTooLarge', `Request entity too large: limit is ${limit}`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(new ApiError('RequestEntityTooLarge', `Request entity too large: limit is ${limit}`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
    });
  });
}

/** Writes a JSON reply (body may be a pre-serialized string). */
export function sendJson(res: ServerResponse, code: number, body: unknown, contentType = 'application/json', headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Writes an error as a Status object; anything that is not an ApiError becomes a 500. */
export function sendError(res: ServerResponse, err: unknown): void {
  const e = err instanceof ApiError ? err : errors.internal(err);
  if (!(err instanceof ApiError)) console.error('internal error:', err);
  const status = e.toStatus() as { details?: { retryAfterSeconds?: number } };
  // Upstream sends the wait as a Retry-After header too (429s and 5xx that say when to try again).
  const retry = status.details?.retryAfterSeconds;
  sendJson(res, e.code, status, 'application/json', retry ? { 'Retry-After': String(retry) } : {});
}

/** Adds `Warning: 299 - "..."` headers, as upstream does for warnings. */
export function warningHeaders(warnings: readonly string[]): string[] {
  return warnings.map((w) => `299 - ${JSON.stringify(w)}`);
}
