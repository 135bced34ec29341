/**
 * The PodGroup controller (`podgroup-controller`, kubernetes-sigs/
 * scheduler-plugins pkg/controllers/podgroup_controller.go): keeps each
 * PodGroup's status in step with its member pods — the pods of its
 * namespace labelled `scheduling.x-k8s.io/pod-group: <name>`:
 *
 * - a new group is Pending; once minMember pods exist it is Scheduling
 *   (occupiedBy names the pods' owners, scheduleStartTime is set);
 * - then running/succeeded/failed count the members by phase, and the
 *   phase follows: Pending again when members are missing, Running once
 *   minMember run or succeeded, Failed when a member failed and the rest
 *   cannot make up minMember, Finished once minMember succeeded (both final).
 *
 * The scheduler's Coscheduling plugin writes the Scheduled condition; this
 * controller leaves it alone. Also here: installing the PodGroup CRD.
 */
import { isStatus, R, type Client } from '../client/client.js';
import type { InformerFactory } from '../client/factory.js';
import { objectKey, splitKey, type Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { ensureCRDs } from '../client/crds.js';
import type { Pod } from '../api/generated/types.js';
import { PODGROUPS, PodGroupPhase, podGroupCRD, podGroupName, type PodGroup } from '../api/podgroup.js';
import { rfc3339 } from './controllerutil.js';


/** Configuration of the PodGroup controller. */
export interface PodGroupControllerConfig {
  client: Client;
  informers: InformerFactory;
  now?: () => Date;
}

/** The status fields this controller owns. */
type OwnStatus = Pick<NonNullable<PodGroup['status']>, 'phase' | 'occupiedBy' | 'running' | 'succeeded' | 'failed' | 'scheduleStartTime'>;

/** Members by phase (upstream getCurrentPodStats). */
function podStats(pods: readonly Pod[]): { running: number; succeeded: number; failed: number } {
  let running = 0;
  let succeeded = 0;
  let failed = 0;
  for (const p of pods) {
    const phase = p.status?.phase;
    if (phase === 'Running') running++;
    else if (phase === 'Succeeded') succeeded++;
    else if (phase === 'Failed') failed++;
  }
  return { running, succeeded, failed };
}

/** `namespace/owner` of the first member's owners, sorted and comma-joined (upstream fillOccupiedObj). */
function occupiedBy(pod: Pod): string | undefined {
  const refs = (pod.metadata?.ownerReferences ?? []).map((o) => `${pod.metadata?.namespace}/${o.name}`);
  return refs.length ? refs.sort().join(',') : undefined;
}

/**
 * The next status of a group from its members (upstream Reconcile's phase
 * machine). Returns undefined for a group in a final phase.
 */
export function nextPodGroupStatus(pg: PodGroup, pods: readonly Pod[], now: Date): OwnStatus | undefined {
  const cur: OwnStatus = { ...(pg.status ?? {}) };
  delete (cur as { conditions?: unknown }).conditions;
  if (cur.phase === PodGroupPhase.Finished || cur.phase === PodGroupPhase.Failed) return undefined;
  const minMember = pg.spec?.minMember ?? 0;
  const next: OwnStatus = { ...cur };
  switch (cur.phase ?? '') {
    case '':
      next.phase = PodGroupPhase.Pending;
      break;
    case PodGroupPhase.Pending:
      if (pods.length >= minMember) {
        next.phase = PodGroupPhase.Scheduling;
        // Upstream never fills scheduleStartTime; Kite records when the group became placeable.
        next.scheduleStartTime ??= rfc3339(now);
        const owners = pods.length ? occupiedBy(pods[0]!) : undefined;
        if (owners) next.occupiedBy = owners;
      }
      break;
    default: {
      const { running, succeeded, failed } = podStats(pods);
      next.running = running;
      next.succeeded = succeeded;
      next.failed = failed;
      if (pods.length < minMember) {
        next.phase = PodGroupPhase.Pending;
        break;
      }
      next.phase = succeeded + running >= minMember ? PodGroupPhase.Running : PodGroupPhase.Scheduling;
      if (failed !== 0 && failed + running + succeeded >= minMember) next.phase = PodGroupPhase.Failed;
      if (succeeded >= minMember) next.phase = PodGroupPhase.Finished;
    }
  }
  return next;
}

/** A JSON merge patch from `old` to `next` over the fields this controller owns; zero counts and empty strings are left out, as upstream's omitempty does. */
function statusPatch(old: OwnStatus, next: OwnStatus): Record<string, unknown> | undefined {
  const present = (v: unknown) => v !== undefined && v !== null && v !== 0 && v !== '';
  const patch: Record<string, unknown> = {};
  const keys = new Set([...Object.keys(old), ...Object.keys(next)]) as Set<keyof OwnStatus>;
  for (const k of keys) {
    const a = present(old[k]) ? old[k] : undefined;
    const b = present(next[k]) ? next[k] : undefined;
    if (a === b) continue;
    patch[k] = b ?? null;
  }
  return Object.keys(patch).length ? patch : undefined;
}

/** Keeps PodGroup status current. */
export class PodGroupController {
  private readonly client: Client;
  private readonly informers: InformerFactory;
  private readonly now: () => Date;
  private readonly queue: WorkQueue;
  private groups?: Informer<PodGroup>;
  private pods?: Informer<Pod>;

  constructor(config: PodGroupControllerConfig) {
    this.client = config.client;
    this.informers = config.informers;
    this.now = config.now ?? (() => new Date());
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: 2 });
  }

  /** Registers handlers and resolves once the caches are filled; does nothing where PodGroups are not served (no CRD). */
  async start(): Promise<void> {
    try {
      await this.client.list(PODGROUPS, '', { limit: 1 });
    } catch (e) {
      if (isStatus(e, 404)) return;
      throw e;
    }
    this.groups = this.informers.informer<PodGroup>(PODGROUPS);
    this.pods = this.informers.informer<Pod>(R.pods);
    this.groups.addHandlers({
      onAdd: (pg) => this.queue.add(objectKey(pg)),
      onUpdate: (_old, pg) => this.queue.add(objectKey(pg)),
    });
    // upstream podToPodGroup: a member's change requeues its group.
    const podChanged = (p: Pod) => {
      const name = podGroupName(p);
      if (name) this.queue.add(`${p.metadata?.namespace}/${name}`);
    };
    this.pods.addHandlers({
      onAdd: podChanged,
      onUpdate: (old, p) => {
        if (podGroupName(old) !== podGroupName(p)) podChanged(old);
        podChanged(p);
      },
      onDelete: podChanged,
    });
    await Promise.all([this.groups.start(), this.pods.start()]);
  }

  /** Stops reconciling (the shared informers are the factory's). */
  stop(): void {
    this.queue.stop();
  }

  /** Resolves when nothing is queued or running (tests). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Brings one group's status up to date. */
  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const pg = this.groups?.get(namespace, name);
    if (!pg) return;
    // Members are the group's namespace's pods that name it (upstream lists every namespace; a group is namespaced).
    const pods = this.pods!.list(namespace, (p) => podGroupName(p) === name);
    const next = nextPodGroupStatus(pg, pods, this.now());
    if (!next) return;
    const { conditions: _scheduler, ...own } = pg.status ?? {};
    const patch = statusPatch(own, next);
    if (!patch) return;
    try {
      await this.client.patch(PODGROUPS, namespace, name, 'merge', { status: patch }, { subresource: 'status' });
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
  }
}

/**
 * Installs (or brings up to date) the PodGroup CRD and resolves once it is
 * Established, so that the scheduler and this controller find PodGroups
 * served when they start. Kite serves PodGroup out of the box; elsewhere
 * users install the same CRD from scheduler-plugins' manifests.
 */
export function ensurePodGroupCRD(client: Client, timeoutMs = 10_000): Promise<void> {
  return ensureCRDs(client, [podGroupCRD()], timeoutMs);
}
