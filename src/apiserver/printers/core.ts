/**
 * Printers for core/v1 kinds, following upstream 1.32
 * pkg/printers/internalversion/printers.go (printPod, printService, printNode, ...).
 */

import {
  accessModesString,
  ageOf,
  arr,
  containerCells,
  creationAge,
  compareBytes,
  formatLabels,
  humanDuration,
  int,
  joinHostPort,
  nameOf,
  parseTime,
  quantityString,
  rec,
  str,
} from './format.js';
import { AGE_COLUMN, col, CONTAINERS_COLUMN, IMAGES_COLUMN, NAME_COLUMN, type KindPrinter } from './table.js';

/** The Pod printer: READY, STATUS (incl. init and terminating states), RESTARTS with last restart age. */
export const podPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'string', 'The aggregate status of the containers in this pod.'),
    col('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
    AGE_COLUMN,
    col('IP', 'string', 'The pod IP address.', { priority: 1 }),
    col('Node', 'string', 'The node the pod is bound to.', { priority: 1 }),
    col('Nominated Node', 'string', 'The node the scheduler nominated for this pod after preemption.', { priority: 1 }),
    col('Readiness Gates', 'string', 'Readiness gates that are true, out of all declared.', { priority: 1 }),
  ],
  row: printPod,
};

function isRestartableInit(container: Record<string, any> | undefined): boolean {
  return container?.restartPolicy === 'Always';
}

function conditionTrue(conditions: unknown, type: string): boolean {
  for (const c of arr(conditions)) {
    if (rec(c).type === type) return rec(c).status === 'True';
  }
  return false;
}

function printPod(pod: any, now: Date): unknown[] {
  const metadata = rec(rec(pod).metadata);
  const spec = rec(rec(pod).spec);
  const status = rec(rec(pod).status);
  const containers = arr(spec.containers);
  const initSpecs = arr(spec.initContainers).map(rec);

  let restarts = 0;
  let restartableInitRestarts = 0;
  let totalContainers = containers.length;
  let readyContainers = 0;
  let lastRestart: number | undefined;
  let lastRestartableInitRestart: number | undefined;
  const later = (current: number | undefined, finishedAt: unknown): number | undefined => {
    const t = parseTime(finishedAt);
    return t !== undefined && (current === undefined || current < t) ? t : current;
  };

  const phase = str(status.phase);
  let reason = str(status.reason) !== '' ? str(status.reason) : phase;
  // A pod held by scheduling gates reports SchedulingGated instead of Pending.
  for (const c of arr(status.conditions)) {
    if (rec(c).type === 'PodScheduled' && rec(c).reason === 'SchedulingGated') reason = 'SchedulingGated';
  }

  const initByName = new Map<string, Record<string, any>>();
  for (const c of initSpecs) {
    initByName.set(str(c.name), c);
    // Sidecars (restartable init containers) count towards READY like app containers.
    if (isRestartableInit(c)) totalContainers++;
  }

  let initializing = false;
  const initStatuses = arr(status.initContainerStatuses).map(rec);
  for (let i = 0; i < initStatuses.length; i++) {
    const cs = initStatuses[i];
    const state = rec(cs.state);
    const terminated = state.terminated === undefined || state.terminated === null ? undefined : rec(state.terminated);
    const waiting = state.waiting === undefined || state.waiting === null ? undefined : rec(state.waiting);
    const lastTerminated = rec(rec(cs.lastState).terminated);
    const restartable = isRestartableInit(initByName.get(str(cs.name)));
    restarts += int(cs.restartCount);
    lastRestart = later(lastRestart, lastTerminated.finishedAt);
    if (restartable) {
      restartableInitRestarts += int(cs.restartCount);
      lastRestartableInitRestart = later(lastRestartableInitRestart, lastTerminated.finishedAt);
    }
    if (terminated && int(terminated.exitCode) === 0) continue;
    if (restartable && cs.started === true) {
      if (cs.ready === true) readyContainers++;
      continue;
    }
    if (terminated) {
      // Initialization failed.
      if (str(terminated.reason) === '') {
        reason = int(terminated.signal) !== 0 ? `Init:Signal:${int(terminated.signal)}` : `Init:ExitCode:${int(terminated.exitCode)}`;
      } else {
        reason = `Init:${str(terminated.reason)}`;
      }
    } else if (waiting && str(waiting.reason) !== '' && waiting.reason !== 'PodInitializing') {
      reason = `Init:${str(waiting.reason)}`;
    } else {
      reason = `Init:${i}/${initSpecs.length}`;
    }
    initializing = true;
    break;
  }

  if (!initializing || conditionTrue(status.conditions, 'Initialized')) {
    restarts = restartableInitRestarts;
    lastRestart = lastRestartableInitRestart;
    let hasRunning = false;
    const statuses = arr(status.containerStatuses).map(rec);
    // Upstream walks the statuses backwards, so the first container's state wins the STATUS column.
    for (let i = statuses.length - 1; i >= 0; i--) {
      const cs = statuses[i];
      const state = rec(cs.state);
      const terminated = state.terminated === undefined || state.terminated === null ? undefined : rec(state.terminated);
      const waiting = state.waiting === undefined || state.waiting === null ? undefined : rec(state.waiting);
      const running = state.running !== undefined && state.running !== null;
      restarts += int(cs.restartCount);
      lastRestart = later(lastRestart, rec(rec(cs.lastState).terminated).finishedAt);
      if (waiting && str(waiting.reason) !== '') {
        reason = str(waiting.reason);
      } else if (terminated && str(terminated.reason) !== '') {
        reason = str(terminated.reason);
      } else if (terminated) {
        reason = int(terminated.signal) !== 0 ? `Signal:${int(terminated.signal)}` : `ExitCode:${int(terminated.exitCode)}`;
      } else if (cs.ready === true && running) {
        hasRunning = true;
        readyContainers++;
      }
    }
    // A pod with a completed container but another still running is Running (or NotReady).
    if (reason === 'Completed' && hasRunning) {
      reason = conditionTrue(status.conditions, 'Ready') ? 'Running' : 'NotReady';
    }
  }

  const deleting = metadata.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null;
  if (deleting && status.reason === 'NodeLost') {
    reason = 'Unknown';
  } else if (deleting && phase !== 'Succeeded' && phase !== 'Failed') {
    reason = 'Terminating';
  }

  let restartsCell = String(restarts);
  if (restarts !== 0 && lastRestart !== undefined) {
    restartsCell = `${restarts} (${humanDuration(now.getTime() - lastRestart)} ago)`;
  }

  // v1 → internal conversion makes status.podIP authoritative over podIPs[0].
  const podIP = str(status.podIP) || str(rec(arr(status.podIPs)[0]).ip) || '<none>';
  const nodeName = str(spec.nodeName) || '<none>';
  const nominated = str(status.nominatedNodeName) || '<none>';
  let readinessGates = '<none>';
  const gates = arr(spec.readinessGates);
  if (gates.length > 0) {
    let trueConditions = 0;
    for (const gate of gates) {
      const found = arr(status.conditions).find((c) => rec(c).type === rec(gate).conditionType);
      if (found && rec(found).status === 'True') trueConditions++;
    }
    readinessGates = `${trueConditions}/${gates.length}`;
  }

  return [
    str(metadata.name),
    `${readyContainers}/${totalContainers}`,
    reason,
    restartsCell,
    creationAge(pod, now),
    podIP,
    nodeName,
    nominated,
    readinessGates,
  ];
}

/** The Namespace printer: STATUS is the phase. */
export const namespacePrinter: KindPrinter = {
  columns: [NAME_COLUMN, col('Status', 'string', 'The status of the namespace'), AGE_COLUMN],
  row: (obj, now) => [nameOf(obj), str(rec(rec(obj).status).phase), creationAge(obj, now)],
};

/** The PodTemplate printer. */
export const podTemplatePrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Containers', 'string', 'Names of each container in the template.'),
    col('Images', 'string', 'Images referenced by each container in the template.'),
    col('Pod Labels', 'string', 'The labels for the pod template.'),
  ],
  row: (obj) => {
    const template = rec(rec(obj).template);
    const [names, images] = containerCells(rec(template.spec).containers);
    return [nameOf(obj), names, images, formatLabels(rec(template.metadata).labels)];
  },
};

/** The ReplicationController printer. */
export const replicationControllerPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Desired', 'integer', 'Number of desired pods.'),
    col('Current', 'integer', 'Number of pods currently running.'),
    col('Ready', 'integer', 'Number of ready pods.'),
    AGE_COLUMN,
    CONTAINERS_COLUMN,
    IMAGES_COLUMN,
    col('Selector', 'string', 'Label query over pods that should match the replicas count.', { priority: 1 }),
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    const status = rec(rec(obj).status);
    const [names, images] = containerCells(rec(rec(spec.template).spec).containers);
    return [nameOf(obj), int(spec.replicas), int(status.replicas), int(status.readyReplicas), creationAge(obj, now), names, images, formatLabels(spec.selector)];
  },
};

/** The load balancer ingress points (IPs, else hostnames), sorted and comma-joined. */
export function loadBalancerIngress(status: unknown): string {
  // sets.NewString(...).List(): de-duplicated and sorted. The server prints wide, so nothing is clipped.
  const result = new Set<string>();
  for (const ing of arr(rec(status).ingress)) {
    const ip = str(rec(ing).ip);
    const hostname = str(rec(ing).hostname);
    if (ip !== '') result.add(ip);
    else if (hostname !== '') result.add(hostname);
  }
  return [...result].sort(compareBytes).join(',');
}

function serviceExternalIP(spec: Record<string, any>, status: Record<string, any>): string {
  const externalIPs = arr(spec.externalIPs).map(str);
  switch (spec.type) {
    case 'ClusterIP':
    case 'NodePort':
      return externalIPs.length > 0 ? externalIPs.join(',') : '<none>';
    case 'LoadBalancer': {
      const lbIPs = loadBalancerIngress(rec(status.loadBalancer));
      if (externalIPs.length > 0) {
        const results = lbIPs.length > 0 ? lbIPs.split(',') : [];
        return [...results, ...externalIPs].join(',');
      }
      return lbIPs.length > 0 ? lbIPs : '<pending>';
    }
    case 'ExternalName':
      return str(spec.externalName);
    default:
      return '<unknown>';
  }
}

function servicePorts(ports: unknown): string {
  return arr(ports)
    .map(rec)
    .map((p) => {
      const protocol = str(p.protocol) || 'TCP';
      return int(p.nodePort) > 0 ? `${int(p.port)}:${int(p.nodePort)}/${protocol}` : `${int(p.port)}/${protocol}`;
    })
    .join(',');
}

/** The Service printer: TYPE, CLUSTER-IP, EXTERNAL-IP (<none>/<pending>), PORT(S) like `80:30001/TCP`. */
export const servicePrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Type', 'string', 'How the service is exposed.'),
    col('Cluster-IP', 'string', 'The IP address of the service inside the cluster.'),
    col('External-IP', 'string', 'External IP addresses or load balancer ingress points.'),
    col('Port(s)', 'string', 'The ports exposed by the service.'),
    AGE_COLUMN,
    col('Selector', 'string', 'Label selector for the pods traffic is routed to.', { priority: 1 }),
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    const status = rec(rec(obj).status);
    // v1 → internal conversion fills clusterIPs from clusterIP when only the latter is set.
    const clusterIP = str(arr(spec.clusterIPs)[0]) || str(spec.clusterIP) || '<none>';
    const ports = servicePorts(spec.ports) || '<none>';
    return [nameOf(obj), str(spec.type), clusterIP, serviceExternalIP(spec, status), ports, creationAge(obj, now), formatLabels(spec.selector)];
  },
};

function formatEndpoints(subsets: unknown): string {
  const list = arr(subsets).map(rec);
  if (list.length === 0) return '<none>';
  const out: string[] = [];
  const max = 3;
  let more = false;
  let count = 0;
  for (const ss of list) {
    const addresses = arr(ss.addresses).map(rec);
    const ports = arr(ss.ports).map(rec);
    if (ports.length === 0) {
      // Headless services may have no ports.
      count += addresses.length;
      for (const a of addresses) {
        if (out.length === max) {
          more = true;
          break;
        }
        out.push(str(a.ip));
      }
      continue;
    }
    for (const port of ports) {
      count += addresses.length;
      for (const a of addresses) {
        if (out.length === max) {
          more = true;
          break;
        }
        out.push(joinHostPort(str(a.ip), int(port.port)));
      }
    }
  }
  const ret = out.join(',');
  return more ? `${ret} + ${count - max} more...` : ret;
}

/** The Endpoints printer: up to three `ip:port` entries then "+ N more...". */
export const endpointsPrinter: KindPrinter = {
  columns: [NAME_COLUMN, col('Endpoints', 'string', 'The ready addresses and ports of the endpoints.'), AGE_COLUMN],
  row: (obj, now) => [nameOf(obj), formatEndpoints(rec(obj).subsets), creationAge(obj, now)],
};

/** The ConfigMap printer: DATA counts data and binaryData keys. */
export const configMapPrinter: KindPrinter = {
  columns: [NAME_COLUMN, col('Data', 'string', 'Number of data and binaryData keys.'), AGE_COLUMN],
  row: (obj, now) => [nameOf(obj), Object.keys(rec(rec(obj).data)).length + Object.keys(rec(rec(obj).binaryData)).length, creationAge(obj, now)],
};

/** The Secret printer: TYPE and number of DATA keys. */
export const secretPrinter: KindPrinter = {
  columns: [NAME_COLUMN, col('Type', 'string', 'The type of the secret.'), col('Data', 'string', 'Number of data keys.'), AGE_COLUMN],
  // stringData is write-only (merged into data on write), so only data counts.
  row: (obj, now) => [nameOf(obj), str(rec(obj).type), Object.keys(rec(rec(obj).data)).length, creationAge(obj, now)],
};

/** The ServiceAccount printer: SECRETS is the number of referenced secrets. */
export const serviceAccountPrinter: KindPrinter = {
  columns: [NAME_COLUMN, col('Secrets', 'string', 'Number of secrets the service account references.'), AGE_COLUMN],
  row: (obj, now) => [nameOf(obj), arr(rec(obj).secrets).length, creationAge(obj, now)],
};

const BETA_STORAGE_CLASS_ANNOTATION = 'volume.beta.kubernetes.io/storage-class';

/** The PersistentVolume printer. */
export const persistentVolumePrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Capacity', 'string', 'Storage capacity of the volume.'),
    col('Access Modes', 'string', 'Ways the volume can be mounted.'),
    col('Reclaim Policy', 'string', 'What happens to the volume when released from its claim.'),
    col('Status', 'string', 'Phase of the volume.'),
    col('Claim', 'string', 'The claim bound to this volume.'),
    col('StorageClass', 'string', 'StorageClass of the pv'),
    col('VolumeAttributesClass', 'string', 'VolumeAttributesClass of the pv'),
    col('Reason', 'string', 'Reason for the volume phase.'),
    AGE_COLUMN,
    col('VolumeMode', 'string', 'Whether the volume is a filesystem or a raw block device.', { priority: 1 }),
  ],
  row: (obj, now) => {
    const metadata = rec(rec(obj).metadata);
    const spec = rec(rec(obj).spec);
    const status = rec(rec(obj).status);
    const claimRef = spec.claimRef === undefined || spec.claimRef === null ? undefined : rec(spec.claimRef);
    const claim = claimRef ? `${str(claimRef.namespace)}/${str(claimRef.name)}` : '';
    const deleting = metadata.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null;
    const annotations = rec(metadata.annotations);
    // helper.GetPersistentVolumeClass: the beta annotation wins over spec.storageClassName.
    const storageClass = BETA_STORAGE_CLASS_ANNOTATION in annotations ? str(annotations[BETA_STORAGE_CLASS_ANNOTATION]) : str(spec.storageClassName);
    return [
      str(metadata.name),
      quantityString(rec(spec.capacity).storage),
      accessModesString(spec.accessModes),
      str(spec.persistentVolumeReclaimPolicy),
      deleting ? 'Terminating' : str(status.phase),
      claim,
      storageClass,
      typeof spec.volumeAttributesClassName === 'string' ? spec.volumeAttributesClassName : '<unset>',
      str(status.reason),
      creationAge(obj, now),
      typeof spec.volumeMode === 'string' ? spec.volumeMode : '<unset>',
    ];
  },
};

/** The PersistentVolumeClaim printer: capacity and access modes only once bound to a volume. */
export const persistentVolumeClaimPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Status', 'string', 'Phase of the claim.'),
    col('Volume', 'string', 'The volume bound to this claim.'),
    col('Capacity', 'string', 'Actual capacity of the bound volume.'),
    col('Access Modes', 'string', 'Access modes of the bound volume.'),
    col('StorageClass', 'string', 'StorageClass of the pvc'),
    col('VolumeAttributesClass', 'string', 'VolumeAttributesClass of the pvc'),
    AGE_COLUMN,
    col('VolumeMode', 'string', 'Whether the claim wants a filesystem or a raw block device.', { priority: 1 }),
  ],
  row: (obj, now) => {
    const metadata = rec(rec(obj).metadata);
    const spec = rec(rec(obj).spec);
    const status = rec(rec(obj).status);
    const deleting = metadata.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null;
    const volumeName = str(spec.volumeName);
    let capacity = '';
    let accessModes = '';
    if (volumeName !== '') {
      accessModes = accessModesString(status.accessModes);
      capacity = quantityString(rec(status.capacity).storage);
    }
    const annotations = rec(metadata.annotations);
    // helper.GetPersistentVolumeClaimClass: the beta annotation wins over spec.storageClassName.
    const storageClass = BETA_STORAGE_CLASS_ANNOTATION in annotations ? str(annotations[BETA_STORAGE_CLASS_ANNOTATION]) : str(spec.storageClassName);
    return [
      str(metadata.name),
      deleting ? 'Terminating' : str(status.phase),
      volumeName,
      capacity,
      accessModes,
      storageClass,
      typeof spec.volumeAttributesClassName === 'string' ? spec.volumeAttributesClassName : '<unset>',
      creationAge(obj, now),
      typeof spec.volumeMode === 'string' ? spec.volumeMode : '<unset>',
    ];
  },
};

const NODE_ROLE_PREFIX = 'node-role.kubernetes.io/';
const NODE_ROLE_LABEL = 'kubernetes.io/role';

function nodeAddress(status: Record<string, any>, type: string): string {
  const found = arr(status.addresses).find((a) => rec(a).type === type);
  return found ? str(rec(found).address) : '<none>';
}

/** The Node printer: STATUS like `Ready` or `NotReady,SchedulingDisabled`, ROLES from node-role labels. */
export const nodePrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Status', 'string', 'The status of the node'),
    col('Roles', 'string', 'The roles of the node'),
    AGE_COLUMN,
    col('Version', 'string', 'Kubelet version reported by the node.'),
    col('Internal-IP', 'string', 'The first internal IP address of the node.', { priority: 1 }),
    col('External-IP', 'string', 'The first external IP address of the node.', { priority: 1 }),
    col('OS-Image', 'string', 'OS image reported by the node.', { priority: 1 }),
    col('Kernel-Version', 'string', 'Kernel version reported by the node.', { priority: 1 }),
    col('Container-Runtime', 'string', 'Container runtime version reported by the node.', { priority: 1 }),
  ],
  row: (obj, now) => {
    const metadata = rec(rec(obj).metadata);
    const spec = rec(rec(obj).spec);
    const status = rec(rec(obj).status);
    // The last condition of a type wins, as in upstream's condition map.
    let ready: Record<string, any> | undefined;
    for (const c of arr(status.conditions)) if (rec(c).type === 'Ready') ready = rec(c);
    const states: string[] = [];
    if (ready) states.push(ready.status === 'True' ? 'Ready' : 'NotReady');
    if (states.length === 0) states.push('Unknown');
    if (spec.unschedulable === true) states.push('SchedulingDisabled');

    const roles = new Set<string>();
    for (const [k, v] of Object.entries(rec(metadata.labels))) {
      if (k.startsWith(NODE_ROLE_PREFIX)) {
        const role = k.slice(NODE_ROLE_PREFIX.length);
        if (role !== '') roles.add(role);
      } else if (k === NODE_ROLE_LABEL && str(v) !== '') {
        roles.add(str(v));
      }
    }
    const info = rec(status.nodeInfo);
    return [
      str(metadata.name),
      states.join(','),
      [...roles].sort(compareBytes).join(',') || '<none>',
      creationAge(obj, now),
      str(info.kubeletVersion),
      nodeAddress(status, 'InternalIP'),
      nodeAddress(status, 'ExternalIP'),
      str(info.osImage) || '<unknown>',
      str(info.kernelVersion) || '<unknown>',
      str(info.containerRuntimeVersion) || '<unknown>',
    ];
  },
};

/** The fields of an Event the printer reads, independent of the API version it came from. */
export interface EventFields {
  name: string;
  type: string;
  reason: string;
  message: string;
  kind: string;
  objectName: string;
  fieldPath: string;
  component: string;
  host: string;
  reportingController: string;
  reportingInstance: string;
  firstTimestamp: unknown;
  lastTimestamp: unknown;
  eventTime: unknown;
  count: number;
  series?: { count: number; lastObservedTime: unknown };
}

/** The core/v1 Event's fields (involvedObject, source, reportingComponent). */
export function coreEventFields(obj: any): EventFields {
  const e = rec(obj);
  const involved = rec(e.involvedObject);
  const source = rec(e.source);
  const series = e.series === undefined || e.series === null ? undefined : rec(e.series);
  return {
    name: nameOf(obj),
    type: str(e.type),
    reason: str(e.reason),
    message: str(e.message),
    kind: str(involved.kind),
    objectName: str(involved.name),
    fieldPath: str(involved.fieldPath),
    component: str(source.component),
    host: str(source.host),
    // core/v1 serializes ReportingController as "reportingComponent".
    reportingController: str(e.reportingComponent),
    reportingInstance: str(e.reportingInstance),
    firstTimestamp: e.firstTimestamp,
    lastTimestamp: e.lastTimestamp,
    eventTime: e.eventTime,
    count: int(e.count),
    series: series ? { count: int(series.count), lastObservedTime: series.lastObservedTime } : undefined,
  };
}

/** One Event row in column order (wide), shared by core/v1 and events.k8s.io/v1 Events. */
export function eventRow(e: EventFields, now: Date): unknown[] {
  let first = ageOf(e.firstTimestamp, now);
  if (parseTime(e.firstTimestamp) === undefined) first = ageOf(e.eventTime, now);
  let last = ageOf(e.lastTimestamp, now);
  if (parseTime(e.lastTimestamp) === undefined) last = first;
  let count = e.count;
  if (e.series) {
    last = ageOf(e.series.lastObservedTime, now);
    count = e.series.count;
  } else if (count === 0) {
    // Singleton events of the new API carry no count.
    count = 1;
  }
  const target = e.objectName !== '' ? `${e.kind.toLowerCase()}/${e.objectName}` : e.kind.toLowerCase();
  const component = e.component || e.reportingController;
  const instance = e.host || e.reportingInstance;
  const source = instance === '' ? component : `${component}, ${instance}`;
  return [last, e.type, e.reason, target, e.fieldPath, source, e.message.trim(), first, count, e.name];
}

/** Columns of the Event table (core and events.k8s.io). */
export const EVENT_COLUMNS = [
  col('Last Seen', 'string', 'Time since the event was last seen.'),
  col('Type', 'string', 'Type of the event (Normal, Warning).'),
  col('Reason', 'string', 'Short reason for the event.'),
  col('Object', 'string', 'The object this event is about.'),
  col('Subobject', 'string', 'The field path within the object, e.g. a container.', { priority: 1 }),
  col('Source', 'string', 'The component that reported the event.', { priority: 1 }),
  col('Message', 'string', 'Human-readable description of the event.'),
  col('First Seen', 'string', 'Time since the event was first seen.', { priority: 1 }),
  col('Count', 'string', 'The number of times this event has occurred.', { priority: 1 }),
  col('Name', 'string', 'Name of the event.', { priority: 1, format: 'name' }),
] as const;

/** The core/v1 Event printer: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE (+ wide columns). */
export const eventPrinter: KindPrinter = {
  columns: EVENT_COLUMNS,
  row: (obj, now) => eventRow(coreEventFields(obj), now),
};

/** The ResourceQuota printer: REQUEST and LIMIT as `resource: used/hard` lists. */
export const resourceQuotaPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    // Upstream's order: AGE before the usage lists.
    AGE_COLUMN,
    col('Request', 'string', 'Request represents a minimum amount of cpu/memory that a container may consume.'),
    col('Limit', 'string', 'Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.'),
  ],
  row: (obj, now) => {
    const status = rec(rec(obj).status);
    const hard = rec(status.hard);
    const used = rec(status.used);
    const requests: string[] = [];
    const limits: string[] = [];
    for (const resource of Object.keys(hard).sort(compareBytes)) {
      const pieces = resource.split('.');
      const target = pieces.length > 1 && pieces[0] === 'limits' ? limits : requests;
      target.push(`${resource}: ${quantityString(used[resource])}/${quantityString(hard[resource])}`);
    }
    return [nameOf(obj), creationAge(obj, now), requests.join(', '), limits.join(', ')];
  },
};
