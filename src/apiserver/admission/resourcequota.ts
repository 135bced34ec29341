/**
 * ResourceQuota admission (upstream apiserver/pkg/admission/plugin/resourcequota):
 * a create (or an update that changes usage) is checked against every quota
 * of its namespace that constrains it, and the usage it adds is written into
 * those quotas' status.used BEFORE the object is stored. Requests of one
 * namespace are evaluated in batches, one batch at a time, and each changed
 * quota is written conditionally on its resourceVersion (retried on conflict),
 * so concurrent creates can never be admitted past a limit.
 */
import { errors } from '../../api/errors.js';
import { clone } from '../../util/json.js';
import {
  addLists,
  evaluatorFor,
  formatResourceList,
  listsEqual,
  maskList,
  negativeResources,
  parseResourceList,
  prettyPrint,
  prettyPrintNames,
  quotaMatches,
  quotaIgnores,
  removeZeros,
  subtractNonNegative,
  withinLimits,
  type QuotaEvaluator,
  type QuotaOperation,
  type ResourceList,
} from './usage.js';

/** Where quota admission reads and writes ResourceQuotas. */
export interface QuotaAccess {
  /** The quotas of a namespace, current as of every acknowledged write (private copies). */
  list(namespace: string): Promise<any[]>;
  /** Writes a quota's status, conditional on its metadata.resourceVersion (throws a 409 ApiError on conflict). */
  updateStatus(quota: any): Promise<void>;
}

/** One request waiting for a quota decision. */
interface Waiter {
  evaluator: QuotaEvaluator;
  op: QuotaOperation;
  obj: any;
  old: any | undefined;
  /** Names the object in errors (upstream extractResourceName). */
  name: string;
  dryRun: boolean;
  now: Date;
  /** undefined: not decided yet (upstream's default deny); null: admitted; else the error. */
  result?: Error | null;
  resolve(): void;
  reject(e: unknown): void;
}

/** A quota during evaluation: its object and its running usage. */
interface Running {
  obj: any;
  hard: ResourceList;
  used: ResourceList;
}

/** Conflicting status writes are retried this many times with fresh quotas (upstream: 3). */
const UPDATE_RETRIES = 3;

/** The quota admission evaluator of one API server. */
export class QuotaAdmission {
  private readonly pending = new Map<string, Waiter[]>();
  private readonly running = new Set<string>();

  constructor(private readonly access: QuotaAccess) {}

  /**
   * Checks (and, unless a dry run, charges) the usage of a create or update
   * of a namespaced object; rejects with a Forbidden ApiError when a quota
   * would be exceeded. Resolves at once when nothing could be affected.
   */
  admit(group: string, resource: string, op: QuotaOperation, obj: any, old: any | undefined, opts: { dryRun: boolean; name: string }): Promise<void> | undefined {
    const namespace: string = obj?.metadata?.namespace ?? '';
    if (!namespace || quotaIgnores(group, resource)) return undefined;
    // Creating a namespace never counts against the quotas inside it.
    if (group === '' && resource === 'namespaces') return undefined;
    const evaluator = evaluatorFor(group, resource);
    if (!evaluator.handles(op, obj, old)) return undefined;
    return new Promise<void>((resolve, reject) => {
      const list = this.pending.get(namespace) ?? [];
      list.push({ evaluator, op, obj, old, name: opts.name, dryRun: opts.dryRun, now: new Date(), resolve, reject });
      this.pending.set(namespace, list);
      if (!this.running.has(namespace)) void this.drain(namespace);
    });
  }

  /** Works through a namespace's waiting requests, a batch at a time, until none are left. */
  private async drain(namespace: string): Promise<void> {
    this.running.add(namespace);
    try {
      for (;;) {
        const batch = this.pending.get(namespace);
        if (!batch?.length) break;
        this.pending.delete(namespace);
        try {
          await this.checkBatch(namespace, batch);
        } catch (e) {
          for (const w of batch) if (w.result === undefined) w.result = e as Error;
        }
        for (const w of batch) {
          if (w.result) w.reject(w.result);
          else w.resolve();
        }
      }
    } finally {
      this.running.delete(namespace);
    }
  }

  private async checkBatch(namespace: string, batch: Waiter[]): Promise<void> {
    const quotas = await this.access.list(namespace);
    if (quotas.length === 0) {
      for (const w of batch) w.result = null;
      return;
    }
    await this.checkQuotas(quotas.map(running), batch, UPDATE_RETRIES);
  }

  /**
   * upstream checkQuotas: every undecided request is checked against the
   * running quotas (which then include its usage); the quotas that changed
   * are written; on a conflict the failed ones are read again and the
   * undecided requests re-checked against them.
   */
  private async checkQuotas(quotas: Running[], batch: Waiter[], retries: number): Promise<void> {
    const original = quotas.map((q) => q.used);
    let changedAny = false;
    for (const w of batch) {
      if (w.result !== undefined) continue;
      let next: Running[];
      try {
        next = checkRequest(quotas, w);
      } catch (e) {
        w.result = e as Error;
        continue;
      }
      if (w.dryRun) {
        w.result = null;
        continue;
      }
      const changed = next.some((q, i) => !listsEqual(q.used, quotas[i]!.used));
      if (changed) changedAny = true;
      else w.result = null;
      quotas = next;
    }
    if (!changedAny) return;
    const failed: Running[] = [];
    let lastErr: Error | undefined;
    for (let i = 0; i < quotas.length; i++) {
      const q = quotas[i]!;
      if (listsEqual(q.used, original[i]!)) continue;
      const body = clone(q.obj);
      body.status = { ...(body.status ?? {}), used: formatResourceList(q.used) };
      try {
        await this.access.updateStatus(body);
      } catch (e) {
        failed.push(q);
        lastErr = e as Error;
      }
    }
    if (failed.length === 0) {
      for (const w of batch) if (w.result === undefined) w.result = null;
      return;
    }
    if (retries <= 0) {
      for (const w of batch) if (w.result === undefined) w.result = lastErr!;
      return;
    }
    // Re-check the undecided requests against fresh copies of the quotas whose write failed (a deleted quota drops out).
    const names = new Set(failed.map((q) => q.obj.metadata?.name));
    const fresh = (await this.access.list(failed[0]!.obj.metadata?.namespace ?? '')).filter((q) => names.has(q.metadata?.name));
    await this.checkQuotas(fresh.map(running), batch, retries - 1);
  }
}

function running(obj: any): Running {
  return { obj, hard: parseResourceList(obj?.status?.hard), used: parseResourceList(obj?.status?.used) };
}

/** A Forbidden error naming the object, as upstream admission.NewForbidden. */
function forbidden(w: Waiter, why: string): Error {
  return errors.forbidden({ group: w.evaluator.group, resource: w.evaluator.resource }, w.name, why);
}

/**
 * upstream CheckRequest: the quotas (copies) with the request's usage added,
 * or a Forbidden error when a matching quota's status is not known yet, the
 * object lacks a constrained value, or a limit would be exceeded.
 */
function checkRequest(quotas: Running[], w: Waiter): Running[] {
  const { evaluator, obj } = w;
  const interesting: number[] = [];
  for (let i = 0; i < quotas.length; i++) {
    const q = quotas[i]!;
    if (!quotaMatches(q.obj, evaluator, obj)) continue;
    const restricted = evaluator.matchingResources([...q.hard.keys()]);
    const missing = evaluator.constraints(restricted, obj);
    if (missing) throw forbidden(w, `failed quota: ${q.obj.metadata?.name}: ${missing}`);
    // The quota controller has not counted these resources yet: nothing can be charged safely.
    if (restricted.some((r) => !q.used.has(r))) {
      throw forbidden(w, `status unknown for quota: ${q.obj.metadata?.name}, resources: ${prettyPrintNames(restricted)}`);
    }
    interesting.push(i);
  }
  let delta = evaluator.usage(obj, w.now);
  const negative = negativeResources(delta);
  if (negative.length) throw forbidden(w, `quota usage is negative for resource(s): ${prettyPrintNames(negative)}`);
  if (w.op === 'update' && w.old?.metadata?.resourceVersion) delta = subtractNonNegative(delta, evaluator.usage(w.old, w.now));
  delta = removeZeros(delta);
  if (delta.size === 0 || interesting.length === 0) return quotas;
  const out = quotas.slice();
  for (const i of interesting) {
    const q = quotas[i]!;
    const requested = maskList(delta, q.hard.keys());
    const newUsage = addLists(q.used, requested);
    const { ok, exceeded } = withinLimits(maskList(newUsage, requested.keys()), q.hard);
    if (!ok) {
      throw forbidden(
        w,
        `exceeded quota: ${q.obj.metadata?.name}, requested: ${prettyPrint(maskList(requested, exceeded))}, used: ${prettyPrint(maskList(q.used, exceeded))}, limited: ${prettyPrint(maskList(q.hard, exceeded))}`,
      );
    }
    out[i] = { ...q, used: newUsage };
  }
  return out;
}
