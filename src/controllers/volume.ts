/**
 * Persistent volumes:
 *  - PersistentVolumeController, upstream's pkg/controller/volume/persistentvolume
 *    binder: binds each pending claim to the smallest matching available
 *    volume (class, access modes, volume mode, selector, capacity), asks the
 *    class's provisioner for a new one when none matches, gives classless
 *    claims the default class (RetroactiveDefaultStorageClass), and marks a
 *    volume Released when its claim is gone.
 *  - LocalPathProvisioner, an external provisioner (`kite.io/local-path`) that
 *    answers with a hostPath volume under `<dataDir>/volumes/<pv-name>` and
 *    deletes the directory and the volume once it is Released with
 *    reclaimPolicy Delete.
 *  - ensureDefaultStorageClass: the `standard` class, default for claims
 *    that name none. It binds Immediately: the scheduler does not do volume
 *    topology, and a local directory on a one-node cluster needs none.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { R, isStatus, type Client } from '../client/client.js';
import type { EventRecorder } from '../client/events.js';
import type { InformerFactory } from '../client/factory.js';
import { objectKey, splitKey, type Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { rfc3339 } from './controllerutil.js';
import { parseQuantity } from '../api/quantity.js';
import { selectorFromLabelSelector } from '../api/labels.js';
import { DEFAULT_STORAGE_CLASS_ANNOTATION, pickDefaultStorageClass } from '../apiserver/registry/builtin.js';
import type { PersistentVolume, PersistentVolumeClaim, StorageClass } from '../api/generated/types.js';

/** The provisioner name of Kite's local-path volumes. */
export const LOCAL_PATH_PROVISIONER = 'kite.io/local-path';
/** The default StorageClass created at start. */
export const DEFAULT_STORAGE_CLASS = 'standard';

/** Annotations of the upstream binder and provisioners (storagehelpers / external-provisioner names). */
export const ANN = {
  bindCompleted: 'pv.kubernetes.io/bind-completed',
  boundByController: 'pv.kubernetes.io/bound-by-controller',
  storageProvisioner: 'volume.kubernetes.io/storage-provisioner',
  betaStorageProvisioner: 'volume.beta.kubernetes.io/storage-provisioner',
  provisionedBy: 'pv.kubernetes.io/provisioned-by',
} as const;


/** Creates the default `standard` StorageClass unless it, or another default class, exists. */
export async function ensureDefaultStorageClass(client: Client): Promise<void> {
  const existing = await client.list<StorageClass>(R.storageclasses, '');
  if (existing.items.some((c) => c.metadata?.name === DEFAULT_STORAGE_CLASS) || pickDefaultStorageClass(existing.items)) return;
  try {
    await client.create(R.storageclasses, '', {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: DEFAULT_STORAGE_CLASS, annotations: { [DEFAULT_STORAGE_CLASS_ANNOTATION]: 'true' } },
      provisioner: LOCAL_PATH_PROVISIONER,
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'Immediate',
    } satisfies StorageClass);
  } catch (e) {
    if (!isStatus(e, 409)) throw e;
  }
}

/** The class a claim asks for ('' for none). */
function claimClass(c: PersistentVolumeClaim): string {
  return c.spec?.storageClassName ?? '';
}

/** upstream checkVolumeSatisfyClaim + findMatchingVolume: can this available volume serve this claim? */
function satisfies(pv: PersistentVolume, claim: PersistentVolumeClaim): boolean {
  if ((pv.spec?.storageClassName ?? '') !== claimClass(claim)) return false;
  if ((pv.spec?.volumeMode ?? 'Filesystem') !== (claim.spec?.volumeMode ?? 'Filesystem')) return false;
  const modes = pv.spec?.accessModes ?? [];
  if (!(claim.spec?.accessModes ?? []).every((m) => modes.includes(m))) return false;
  const want = claim.spec?.resources?.requests?.storage;
  const have = pv.spec?.capacity?.storage;
  if (want !== undefined && (have === undefined || parseQuantity(have).cmp(parseQuantity(want)) < 0)) return false;
  if (claim.spec?.selector && !selectorFromLabelSelector(claim.spec.selector).matches(pv.metadata?.labels ?? {})) return false;
  return true;
}

/** Configuration of the binder. */
export interface PersistentVolumeControllerConfig {
  client: Client;
  informers: InformerFactory;
  events: EventRecorder;
}

/** Binds claims to volumes and releases volumes whose claims are gone. */
export class PersistentVolumeController {
  private readonly queue: WorkQueue;
  private volumes!: Informer<PersistentVolume>;
  private claims!: Informer<PersistentVolumeClaim>;
  private classes!: Informer<StorageClass>;
  private stopped = false;

  constructor(private readonly config: PersistentVolumeControllerConfig) {
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: 4, backoff: { baseMs: 50, maxMs: 60_000 } });
  }

  /** Registers handlers and waits for the caches. */
  async start(): Promise<void> {
    const f = this.config.informers;
    this.volumes = f.informer<PersistentVolume>(R.persistentvolumes);
    this.claims = f.informer<PersistentVolumeClaim>(R.persistentvolumeclaims);
    this.classes = f.informer<StorageClass>(R.storageclasses);
    const claim = (c: PersistentVolumeClaim) => !this.stopped && this.queue.add(`claim/${objectKey(c)}`);
    const volume = (v: PersistentVolume) => {
      if (this.stopped) return;
      this.queue.add(`volume/${v.metadata?.name}`);
      // A new or freed volume may be what a pending claim waits for.
      if (!v.spec?.claimRef || v.status?.phase === 'Available') for (const c of this.claims.list(undefined, (c) => !c.spec?.volumeName)) claim(c);
    };
    this.claims.addHandlers({
      onAdd: claim,
      onUpdate: (_o, c) => claim(c),
      onDelete: (c) => {
        // The volume bound to a deleted claim is released.
        for (const v of this.volumes.list(undefined, (v) => v.spec?.claimRef?.uid === c.metadata?.uid)) this.queue.add(`volume/${v.metadata?.name}`);
      },
    });
    this.volumes.addHandlers({ onAdd: volume, onUpdate: (_o, v) => volume(v) });
    this.classes.addHandlers({ onAdd: () => this.claims.list(undefined, (c) => !c.spec?.volumeName).forEach(claim) });
    await Promise.all([this.volumes.start(), this.claims.start(), this.classes.start()]);
  }

  /** Stops the controller. */
  stop(): void {
    this.stopped = true;
    this.queue.stop();
  }

  /** Syncs `claim/<ns>/<name>` or `volume/<name>`. */
  async reconcile(key: string): Promise<void> {
    const i = key.indexOf('/');
    const kind = key.slice(0, i);
    const rest = key.slice(i + 1);
    if (kind === 'claim') return this.syncClaim(rest);
    return this.syncVolume(rest);
  }

  /** upstream syncClaim. */
  private async syncClaim(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const claim = this.claims.get(namespace, name);
    if (!claim || claim.metadata?.deletionTimestamp) return;
    const c = this.config.client;
    if (!claim.spec?.volumeName) {
      if (claim.spec && (claim.spec.storageClassName === undefined || claim.spec.storageClassName === null)) {
        // RetroactiveDefaultStorageClass (GA in 1.28): a claim without a class gets the default one.
        const def = pickDefaultStorageClass(this.classes.list());
        if (def) {
          const next = structuredClone(claim) as PersistentVolumeClaim;
          next.spec!.storageClassName = def;
          try {
            await c.update(R.persistentvolumeclaims, namespace, next);
            return;
          } catch (e) {
            // An API server that refuses the class change (before 1.28 rules) leaves the claim classless.
            if (!isStatus(e, 422)) throw e;
          }
        }
      }
      const pv = this.findBestMatch(claim);
      if (pv) return this.bind(pv, claim);
      const cls = claimClass(claim);
      if (!cls) {
        void this.config.events.event(claim, 'Normal', 'FailedBinding', 'no persistent volumes available for this claim and no storage class is set');
        return;
      }
      const sc = this.classes.get('', cls);
      if (!sc) {
        void this.config.events.event(claim, 'Warning', 'ProvisioningFailed', `storageclass.storage.k8s.io "${cls}" not found`);
        return;
      }
      if (sc.volumeBindingMode === 'WaitForFirstConsumer') {
        void this.config.events.event(claim, 'Normal', 'WaitForFirstConsumer', 'waiting for first consumer to be created before binding');
        return;
      }
      // Provisioning is external: the claim is annotated with the provisioner that should answer it.
      if (claim.metadata?.annotations?.[ANN.storageProvisioner] !== sc.provisioner) {
        const next = structuredClone(claim) as PersistentVolumeClaim;
        next.metadata!.annotations = { ...(next.metadata!.annotations ?? {}), [ANN.storageProvisioner]: sc.provisioner, [ANN.betaStorageProvisioner]: sc.provisioner };
        await c.update(R.persistentvolumeclaims, namespace, next);
      }
      void this.config.events.event(
        claim,
        'Normal',
        'ExternalProvisioning',
        `Waiting for a volume to be created either by the external provisioner '${sc.provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.`,
      );
      return;
    }
    const pv = this.volumes.get('', claim.spec.volumeName);
    if (!pv) {
      if (claim.metadata?.annotations?.[ANN.bindCompleted] && claim.status?.phase !== 'Lost') {
        await this.claimPhase(claim, 'Lost');
        void this.config.events.event(claim, 'Warning', 'ClaimLost', 'Bound claim has lost its PersistentVolume. Data on the volume is lost!');
      }
      return;
    }
    const ref = pv.spec?.claimRef;
    if (!ref || (ref.namespace === namespace && ref.name === name && (!ref.uid || ref.uid === claim.metadata?.uid))) return this.bind(pv, claim);
    if (claim.metadata?.annotations?.[ANN.bindCompleted] && claim.status?.phase !== 'Lost') {
      await this.claimPhase(claim, 'Lost');
      void this.config.events.event(claim, 'Warning', 'ClaimMisbound', 'Two claims are bound to the same volume, this one is bound incorrectly');
    }
  }

  /** Volumes pre-bound to this claim first, else the smallest available volume that satisfies it. */
  private findBestMatch(claim: PersistentVolumeClaim): PersistentVolume | undefined {
    let best: PersistentVolume | undefined;
    for (const pv of this.volumes.list()) {
      if (pv.metadata?.deletionTimestamp) continue;
      const ref = pv.spec?.claimRef;
      if (ref) {
        const mine = ref.namespace === claim.metadata?.namespace && ref.name === claim.metadata?.name && (!ref.uid || ref.uid === claim.metadata?.uid);
        if (mine && satisfies(pv, claim)) return pv;
        continue;
      }
      if ((pv.status?.phase ?? 'Available') !== 'Available' && pv.status?.phase !== 'Pending') continue;
      if (!satisfies(pv, claim)) continue;
      if (!best || parseQuantity(pv.spec?.capacity?.storage ?? '0').cmp(parseQuantity(best.spec?.capacity?.storage ?? '0')) < 0) best = pv;
    }
    return best;
  }

  /** upstream bind: volume → claim reference and Bound, then claim → volume name, annotations and Bound. */
  private async bind(pv: PersistentVolume, claim: PersistentVolumeClaim): Promise<void> {
    const c = this.config.client;
    const md = claim.metadata!;
    let vol = pv;
    if (vol.spec?.claimRef?.uid !== md.uid) {
      const next = structuredClone(vol) as PersistentVolume;
      if (!next.spec!.claimRef) next.metadata!.annotations = { ...(next.metadata!.annotations ?? {}), [ANN.boundByController]: 'yes' };
      next.spec!.claimRef = { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: md.namespace, name: md.name, uid: md.uid, resourceVersion: md.resourceVersion };
      vol = await c.update<PersistentVolume>(R.persistentvolumes, '', next);
    }
    if (vol.status?.phase !== 'Bound') await this.volumePhase(vol, 'Bound');
    let cl = claim;
    if (cl.spec?.volumeName !== vol.metadata?.name || cl.metadata?.annotations?.[ANN.bindCompleted] !== 'yes') {
      const next = structuredClone(cl) as PersistentVolumeClaim;
      const annotations: Record<string, string> = { ...(next.metadata!.annotations ?? {}), [ANN.bindCompleted]: 'yes' };
      if (!next.spec!.volumeName) annotations[ANN.boundByController] = 'yes';
      next.metadata!.annotations = annotations;
      next.spec!.volumeName = vol.metadata!.name;
      cl = await c.update<PersistentVolumeClaim>(R.persistentvolumeclaims, md.namespace ?? '', next);
    }
    if (cl.status?.phase !== 'Bound') {
      const next = structuredClone(cl) as PersistentVolumeClaim;
      next.status = { ...(next.status ?? {}), phase: 'Bound', accessModes: vol.spec?.accessModes, capacity: vol.spec?.capacity };
      await c.update(R.persistentvolumeclaims, md.namespace ?? '', next, { subresource: 'status' });
    }
  }

  /** upstream syncVolume. */
  private async syncVolume(name: string): Promise<void> {
    const pv = this.volumes.get('', name);
    if (!pv || pv.metadata?.deletionTimestamp) return;
    const ref = pv.spec?.claimRef;
    if (!ref) {
      if (pv.status?.phase !== 'Available') await this.volumePhase(pv, 'Available');
      return;
    }
    if (!ref.uid) {
      // Pre-bound by an administrator: the claim's sync completes the binding.
      this.queue.add(`claim/${ref.namespace}/${ref.name}`);
      if (pv.status?.phase !== 'Available') await this.volumePhase(pv, 'Available');
      return;
    }
    let claim = this.claims.get(ref.namespace ?? '', ref.name ?? '');
    if (!claim || claim.metadata?.uid !== ref.uid) {
      // The cache may not have seen a new claim yet: ask the API server before releasing anything.
      try {
        claim = await this.config.client.get<PersistentVolumeClaim>(R.persistentvolumeclaims, ref.namespace ?? '', ref.name ?? '');
      } catch (e) {
        if (!isStatus(e, 404)) throw e;
        claim = undefined;
      }
    }
    if (!claim || claim.metadata?.uid !== ref.uid) {
      // upstream: the claim is gone; the volume is Released and its reclaim policy applies. Delete of a
      // provisioned volume is the provisioner's; Retain keeps it Released for an administrator.
      if (pv.status?.phase !== 'Released' && pv.status?.phase !== 'Failed') await this.volumePhase(pv, 'Released');
      return;
    }
    if (claim.spec?.volumeName === name) {
      if (pv.status?.phase !== 'Bound') await this.volumePhase(pv, 'Bound');
      return;
    }
    if (!claim.spec?.volumeName) {
      this.queue.add(`claim/${objectKey(claim)}`);
      return;
    }
    // The claim is bound to another volume: a binding the controller made is undone.
    if (pv.metadata?.annotations?.[ANN.boundByController]) {
      const next = structuredClone(pv) as PersistentVolume;
      delete next.spec!.claimRef;
      delete next.metadata!.annotations![ANN.boundByController];
      const out = await this.config.client.update<PersistentVolume>(R.persistentvolumes, '', next);
      await this.volumePhase(out, 'Available');
    }
  }

  private async volumePhase(pv: PersistentVolume, phase: string): Promise<void> {
    const next = structuredClone(pv) as PersistentVolume;
    // lastPhaseTransitionTime: GA in 1.31.
    next.status = { ...(next.status ?? {}), phase, lastPhaseTransitionTime: rfc3339(new Date()) };
    await this.config.client.update(R.persistentvolumes, '', next, { subresource: 'status' });
  }

  private async claimPhase(claim: PersistentVolumeClaim, phase: string): Promise<void> {
    const next = structuredClone(claim) as PersistentVolumeClaim;
    next.status = { ...(next.status ?? {}), phase };
    await this.config.client.update(R.persistentvolumeclaims, claim.metadata?.namespace ?? '', next, { subresource: 'status' });
  }
}

/** Configuration of the local-path provisioner. */
export interface LocalPathProvisionerConfig {
  client: Client;
  informers: InformerFactory;
  events: EventRecorder;
  /** Volumes live under `<dataDir>/volumes`. */
  dataDir: string;
  /** Create the default StorageClass at start (default true). */
  createDefaultClass?: boolean;
}

/** Provisions hostPath volumes in a directory per claim, and deletes them when released. */
export class LocalPathProvisioner {
  private readonly queue: WorkQueue;
  private volumes!: Informer<PersistentVolume>;
  private claims!: Informer<PersistentVolumeClaim>;
  private classes!: Informer<StorageClass>;
  private readonly root: string;
  private stopped = false;

  constructor(private readonly config: LocalPathProvisionerConfig) {
    this.root = resolve(config.dataDir, 'volumes');
    this.queue = new WorkQueue((key) => this.reconcile(key), { workers: 4, backoff: { baseMs: 100, maxMs: 60_000 } });
  }

  /** Creates the default class (unless told not to), registers handlers and waits for the caches. */
  async start(): Promise<void> {
    if (this.config.createDefaultClass !== false) await ensureDefaultStorageClass(this.config.client);
    const f = this.config.informers;
    this.volumes = f.informer<PersistentVolume>(R.persistentvolumes);
    this.claims = f.informer<PersistentVolumeClaim>(R.persistentvolumeclaims);
    this.classes = f.informer<StorageClass>(R.storageclasses);
    const claim = (c: PersistentVolumeClaim) => !this.stopped && this.queue.add(`claim/${objectKey(c)}`);
    const volume = (v: PersistentVolume) => !this.stopped && this.queue.add(`volume/${v.metadata?.name}`);
    this.claims.addHandlers({ onAdd: claim, onUpdate: (_o, c) => claim(c) });
    this.volumes.addHandlers({ onAdd: volume, onUpdate: (_o, v) => volume(v) });
    await Promise.all([this.volumes.start(), this.claims.start(), this.classes.start()]);
  }

  /** Stops the provisioner. */
  stop(): void {
    this.stopped = true;
    this.queue.stop();
  }

  /** Provisions for `claim/<ns>/<name>`, or deletes a released `volume/<name>`. */
  async reconcile(key: string): Promise<void> {
    const i = key.indexOf('/');
    if (key.slice(0, i) === 'claim') return this.provision(key.slice(i + 1));
    return this.deleteReleased(key.slice(i + 1));
  }

  private async provision(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const claim = this.claims.get(namespace, name);
    if (!claim || claim.metadata?.deletionTimestamp || claim.spec?.volumeName) return;
    // The binder found no volume and named this provisioner (external-provisioner's shouldProvision).
    if (claim.metadata?.annotations?.[ANN.storageProvisioner] !== LOCAL_PATH_PROVISIONER) return;
    const sc = this.classes.get('', claimClass(claim));
    if (!sc || sc.provisioner !== LOCAL_PATH_PROVISIONER) return;
    const pvName = `pvc-${claim.metadata?.uid}`;
    if (this.volumes.get('', pvName)) return;
    if (claim.spec?.selector) {
      void this.config.events.event(claim, 'Warning', 'ProvisioningFailed', 'failed to provision volume with StorageClass "' + sc.metadata?.name + '": claim Selector is not supported');
      return;
    }
    void this.config.events.event(claim, 'Normal', 'Provisioning', `External provisioner is provisioning volume for claim "${key}"`);
    const path = join(this.root, pvName);
    await mkdir(path, { recursive: true });
    const md = claim.metadata!;
    try {
      await this.config.client.create(R.persistentvolumes, '', {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: pvName, annotations: { [ANN.provisionedBy]: LOCAL_PATH_PROVISIONER } },
        spec: {
          capacity: { storage: claim.spec?.resources?.requests?.storage ?? '1Gi' },
          accessModes: claim.spec?.accessModes ?? ['ReadWriteOnce'],
          volumeMode: claim.spec?.volumeMode ?? 'Filesystem',
          storageClassName: sc.metadata?.name,
          persistentVolumeReclaimPolicy: sc.reclaimPolicy ?? 'Delete',
          mountOptions: sc.mountOptions,
          // DirectoryOrCreate: a node agent on another machine creates the directory on first mount.
          hostPath: { path, type: 'DirectoryOrCreate' },
          claimRef: { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespace: md.namespace, name: md.name, uid: md.uid, resourceVersion: md.resourceVersion },
        },
      } satisfies PersistentVolume);
    } catch (e) {
      if (isStatus(e, 409)) return;
      throw e;
    }
    void this.config.events.event(claim, 'Normal', 'ProvisioningSucceeded', `Successfully provisioned volume ${pvName}`);
  }

  private async deleteReleased(name: string): Promise<void> {
    const pv = this.volumes.get('', name);
    if (!pv || pv.metadata?.deletionTimestamp) return;
    if (pv.status?.phase !== 'Released' || pv.spec?.persistentVolumeReclaimPolicy !== 'Delete') return;
    if (pv.metadata?.annotations?.[ANN.provisionedBy] !== LOCAL_PATH_PROVISIONER) return;
    const path = pv.spec?.hostPath?.path;
    // Only directories this provisioner made are removed.
    if (path && resolve(path).startsWith(this.root + sep)) await rm(path, { recursive: true, force: true });
    try {
      await this.config.client.delete(R.persistentvolumes, '', name, { preconditions: { uid: pv.metadata?.uid } });
    } catch (e) {
      if (!isStatus(e, 404) && !isStatus(e, 409)) throw e;
    }
  }
}
