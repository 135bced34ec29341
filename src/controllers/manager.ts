/**
 * The controller manager: builds every registered controller around one
 * client and one set of shared informers, starts them, and stops them
 * together — kube-controller-manager in one function. Controllers are listed
 * by name in CONTROLLERS (upstream's controller names); adding one is one line.
 */
import type { Client } from '../client/client.js';
import { EventRecorder } from '../client/events.js';
import { InformerFactory } from '../client/factory.js';
import { GarbageCollector, type DiscoveredResource } from './garbagecollector.js';
import { NamespaceController } from './namespace.js';
import { NodeLifecycleController, TaintEvictionController } from './nodelifecycle.js';
import { RootCACertPublisher, ServiceAccountsController } from './serviceaccount.js';
import { LocalPathProvisioner, PersistentVolumeController } from './volume.js';
import { ReplicaSetController, ReplicationManager } from './replicaset.js';
import { DeploymentController } from './deployment.js';
import { JobController, TTLAfterFinishedController } from './job.js';
import { CronJobController } from './cronjob.js';
import { ServiceLBController } from '../proxy/servicelb.js';
import { StatefulSetController } from './statefulset.js';
import { DaemonSetController } from './daemonset.js';
import { HorizontalController } from './podautoscaler.js';
import { DisruptionController } from './disruption.js';
import { ResourceQuotaController } from './resourcequota.js';
import { EndpointsController } from './endpoints.js';
import { EndpointSliceController } from './endpointslice.js';
import { EndpointSliceMirroringController } from './endpointslicemirroring.js';
import { PodGroupController } from './podgroup.js';
import { TrainingJobController } from './training/controller.js';
import { QueueController } from './queue/index.js';
import { NodeIpamController } from './nodeipam.js';

/** What every controller is built from. */
export interface ControllerContext {
  client: Client;
  informers: InformerFactory;
  /** An event recorder for a component name (e.g. `node-controller`). */
  events: (component: string) => EventRecorder;
  /** Kite's data directory (local-path volumes live under it). */
  dataDir: string;
  /** The cluster CA certificate (PEM) published in every namespace. */
  caPem: string;
  now: () => Date;
  /** The served resources (discovery). */
  resources: () => readonly DiscoveredResource[];
  /** Per-controller tuning, e.g. `{ nodeMonitorGracePeriodMs: 1000 }`. */
  options: ControllerOptions;
}

/** Tuning knobs (upstream kube-controller-manager flags); defaults are upstream's. */
export interface ControllerOptions {
  nodeMonitorGracePeriodMs?: number;
  nodeStartupGracePeriodMs?: number;
  nodeMonitorPeriodMs?: number;
  namespaceRetryMs?: number;
  gcResyncMs?: number;
  /** --horizontal-pod-autoscaler-sync-period (15 s). */
  hpaSyncPeriodMs?: number;
  /** --horizontal-pod-autoscaler-downscale-stabilization (5 min). */
  hpaDownscaleStabilizationMs?: number;
  /** --horizontal-pod-autoscaler-tolerance (0.1). */
  hpaTolerance?: number;
  /** --horizontal-pod-autoscaler-cpu-initialization-period (5 min). */
  hpaCpuInitializationPeriodMs?: number;
  /** --horizontal-pod-autoscaler-initial-readiness-delay (30 s). */
  hpaInitialReadinessDelayMs?: number;
}

/** A started thing with a lifecycle. */
export interface Controller {
  start(): Promise<void>;
  stop(): void;
}

/** Builds one controller. */
export type ControllerFactory = (ctx: ControllerContext) => Controller;

/** Every controller the manager runs, by upstream name. */
export const CONTROLLERS: Readonly<Record<string, ControllerFactory>> = {
  'namespace-controller': (x) =>
    new NamespaceController({ client: x.client, informers: x.informers, resources: x.resources, retryMs: x.options.namespaceRetryMs }),
  'garbage-collector-controller': (x) =>
    new GarbageCollector({ client: x.client, informers: x.informers, resources: x.resources, resyncMs: x.options.gcResyncMs }),
  'serviceaccount-controller': (x) => new ServiceAccountsController({ client: x.client, informers: x.informers }),
  'root-ca-certificate-publisher-controller': (x) => new RootCACertPublisher({ client: x.client, informers: x.informers, caPem: x.caPem }),
  'node-lifecycle-controller': (x) =>
    new NodeLifecycleController({
      client: x.client,
      informers: x.informers,
      events: x.events('node-controller'),
      now: x.now,
      nodeMonitorGracePeriodMs: x.options.nodeMonitorGracePeriodMs,
      nodeStartupGracePeriodMs: x.options.nodeStartupGracePeriodMs,
      nodeMonitorPeriodMs: x.options.nodeMonitorPeriodMs,
    }),
  'taint-eviction-controller': (x) => new TaintEvictionController({ client: x.client, informers: x.informers, events: x.events('taint-eviction-controller'), now: x.now }),
  'persistentvolume-binder-controller': (x) =>
    new PersistentVolumeController({ client: x.client, informers: x.informers, events: x.events('persistentvolume-controller') }),
  'local-path-provisioner': (x) =>
    new LocalPathProvisioner({ client: x.client, informers: x.informers, events: x.events('kite.io/local-path'), dataDir: x.dataDir }),
  'replicaset-controller': (x) => new ReplicaSetController({ client: x.client, informers: x.informers, events: x.events('replicaset-controller') }),
  'replicationcontroller-controller': (x) => new ReplicationManager({ client: x.client, informers: x.informers, events: x.events('replication-controller') }),
  'deployment-controller': (x) => new DeploymentController({ client: x.client, informers: x.informers, events: x.events('deployment-controller') }),
  'job-controller': (x) => new JobController({ client: x.client, informers: x.informers, events: x.events('job-controller') }),
  'cronjob-controller': (x) => new CronJobController({ client: x.client, informers: x.informers, events: x.events('cronjob-controller') }),
  'statefulset-controller': (x) => new StatefulSetController({ client: x.client, informers: x.informers, events: x.events('statefulset-controller') }),
  'daemonset-controller': (x) => new DaemonSetController({ client: x.client, informers: x.informers, events: x.events('daemonset-controller') }),
  'ttl-after-finished-controller': (x) => new TTLAfterFinishedController({ client: x.client, informers: x.informers, events: x.events('ttl-after-finished-controller') }),
  'service-lb-controller': (x) => new ServiceLBController({ client: x.client, informers: x.informers }),
  'horizontal-pod-autoscaler-controller': (x) =>
    new HorizontalController({
      client: x.client,
      informers: x.informers,
      events: x.events('horizontal-pod-autoscaler'),
      resources: x.resources,
      now: x.now,
      syncPeriodMs: x.options.hpaSyncPeriodMs,
      downscaleStabilizationMs: x.options.hpaDownscaleStabilizationMs,
      tolerance: x.options.hpaTolerance,
      cpuInitializationPeriodMs: x.options.hpaCpuInitializationPeriodMs,
      initialReadinessDelayMs: x.options.hpaInitialReadinessDelayMs,
    }),
  'disruption-controller': (x) => new DisruptionController({ client: x.client, informers: x.informers, events: x.events('controllermanager'), resources: x.resources }),
  'resourcequota-controller': (x) => new ResourceQuotaController({ client: x.client, informers: x.informers, resources: x.resources }),
  'endpoints-controller': (x) => new EndpointsController({ client: x.client, informers: x.informers, events: x.events('endpoint-controller') }),
  'endpointslice-controller': (x) => new EndpointSliceController({ client: x.client, informers: x.informers, events: x.events('endpoint-slice-controller') }),
  'endpointslice-mirroring-controller': (x) =>
    new EndpointSliceMirroringController({ client: x.client, informers: x.informers, events: x.events('endpoint-slice-mirroring-controller') }),
  'podgroup-controller': (x) => new PodGroupController({ client: x.client, informers: x.informers, now: x.now }),
  'training-operator': (x) => new TrainingJobController({ client: x.client, informers: x.informers, events: x.events, now: x.now }),
  'kueue-controller': (x) => new QueueController({ client: x.client, informers: x.informers, events: x.events, now: x.now }),
  'node-ipam-controller': (x) => new NodeIpamController({ client: x.client, informers: x.informers, events: x.events('cidrAllocator') }),
};

/** Configuration of startControllers. */
export interface ControllerManagerConfig {
  client: Client;
  /** Shared informers (default: a new factory, stopped with the manager). */
  informers?: InformerFactory;
  /** Event recorders by component (default: an EventRecorder on `client`). */
  events?: (component: string) => EventRecorder;
  dataDir: string;
  caPem: string;
  clock?: () => Date;
  resources: () => readonly DiscoveredResource[];
  options?: ControllerOptions;
  /** The controllers to run (default CONTROLLERS). */
  controllers?: Readonly<Record<string, ControllerFactory>>;
  /** Names of controllers not to run (upstream --controllers=-name). */
  disabled?: readonly string[];
}

/** Builds and starts every controller; resolves once all are running (their caches filled). */
export async function startControllers(config: ControllerManagerConfig): Promise<{ stop(): void }> {
  const ownInformers = !config.informers;
  const informers = config.informers ?? new InformerFactory(config.client);
  const ctx: ControllerContext = {
    client: config.client,
    informers,
    events: config.events ?? ((component) => new EventRecorder(config.client, component)),
    dataDir: config.dataDir,
    caPem: config.caPem,
    now: config.clock ?? (() => new Date()),
    resources: config.resources,
    options: config.options ?? {},
  };
  const disabled = new Set(config.disabled ?? []);
  const running: Controller[] = [];
  const stop = () => {
    for (const c of running) c.stop();
    if (ownInformers) informers.stop();
  };
  try {
    const all = Object.entries(config.controllers ?? CONTROLLERS).filter(([name]) => !disabled.has(name));
    const built = all.map(([, make]) => make(ctx));
    running.push(...built);
    await Promise.all(built.map((c) => c.start()));
    // Informers asked for by controllers that did not start them themselves.
    await informers.start();
  } catch (e) {
    stop();
    throw e;
  }
  return { stop };
}
