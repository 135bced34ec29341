/**
 * Server-side Table printing (meta.k8s.io/v1 Table) for `kubectl get`: one
 * registry of per-kind printers keyed by group and kind, matching upstream
 * 1.32's pkg/printers/internalversion, and the default (Name, Created At)
 * table of rest.NewDefaultTableConvertor for every other resource. The server
 * always prints wide; kubectl hides priority-1 columns unless `-o wide`.
 */

import * as cluster from './cluster.js';
import * as core from './core.js';
import { nameOf, rec } from './format.js';
import { col, NAME_COLUMN, type KindPrinter } from './table.js';
import * as workloads from './workloads.js';

export type { KindPrinter, TableColumnDefinition } from './table.js';
export { age, humanDuration, quantityString } from './format.js';

/** Go's time.RFC3339 of a UTC instant: whole seconds, no fraction. */
function rfc3339(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

// Go's zero time formatted with RFC3339; what upstream prints for a missing creationTimestamp.
const ZERO_TIME_RFC3339 = '0001-01-01T00:00:00Z';

const basePrinter: KindPrinter = {
  columns: [NAME_COLUMN, col('Created At', 'date', 'Time the object was created (metadata.creationTimestamp).')],
  row: (obj) => {
    // The default convertor prints the absolute time, not an age.
    const ts = rec(rec(obj).metadata).creationTimestamp;
    const ms = typeof ts === 'string' ? Date.parse(ts) : NaN;
    return [nameOf(obj), Number.isNaN(ms) ? ZERO_TIME_RFC3339 : rfc3339(ms)];
  },
};

// Keyed by `${group}/${kind}`, group '' for core. Kinds absent here (Role, ClusterRole,
// LimitRange, CustomResourceDefinition, ...) have no upstream printer and use the default table.
const PRINTERS: ReadonlyMap<string, KindPrinter> = new Map<string, KindPrinter>([
  ['/Pod', core.podPrinter],
  ['/Namespace', core.namespacePrinter],
  ['/PodTemplate', core.podTemplatePrinter],
  ['/ReplicationController', core.replicationControllerPrinter],
  ['/Service', core.servicePrinter],
  ['/Endpoints', core.endpointsPrinter],
  ['/ConfigMap', core.configMapPrinter],
  ['/Secret', core.secretPrinter],
  ['/ServiceAccount', core.serviceAccountPrinter],
  ['/PersistentVolume', core.persistentVolumePrinter],
  ['/PersistentVolumeClaim', core.persistentVolumeClaimPrinter],
  ['/Node', core.nodePrinter],
  ['/Event', core.eventPrinter],
  ['/ResourceQuota', core.resourceQuotaPrinter],
  ['apps/Deployment', workloads.deploymentPrinter],
  ['apps/ReplicaSet', workloads.replicaSetPrinter],
  ['apps/StatefulSet', workloads.statefulSetPrinter],
  ['apps/DaemonSet', workloads.daemonSetPrinter],
  ['apps/ControllerRevision', workloads.controllerRevisionPrinter],
  ['batch/Job', workloads.jobPrinter],
  ['batch/CronJob', workloads.cronJobPrinter],
  ['autoscaling/HorizontalPodAutoscaler', workloads.horizontalPodAutoscalerPrinter],
  ['autoscaling/Scale', workloads.scalePrinter],
  ['policy/PodDisruptionBudget', workloads.podDisruptionBudgetPrinter],
  ['networking.k8s.io/Ingress', cluster.ingressPrinter],
  ['networking.k8s.io/IngressClass', cluster.ingressClassPrinter],
  ['networking.k8s.io/NetworkPolicy', cluster.networkPolicyPrinter],
  ['networking.k8s.io/ServiceCIDR', cluster.serviceCIDRPrinter],
  ['networking.k8s.io/IPAddress', cluster.ipAddressPrinter],
  ['rbac.authorization.k8s.io/RoleBinding', cluster.roleBindingPrinter],
  ['rbac.authorization.k8s.io/ClusterRoleBinding', cluster.clusterRoleBindingPrinter],
  ['coordination.k8s.io/Lease', cluster.leasePrinter],
  ['discovery.k8s.io/EndpointSlice', cluster.endpointSlicePrinter],
  ['events.k8s.io/Event', cluster.eventsV1EventPrinter],
  ['scheduling.k8s.io/PriorityClass', cluster.priorityClassPrinter],
  ['storage.k8s.io/StorageClass', cluster.storageClassPrinter],
  ['storage.k8s.io/VolumeAttachment', cluster.volumeAttachmentPrinter],
  ['storage.k8s.io/CSIDriver', cluster.csiDriverPrinter],
  ['storage.k8s.io/CSINode', cluster.csiNodePrinter],
  ['storage.k8s.io/CSIStorageCapacity', cluster.csiStorageCapacityPrinter],
  ['admissionregistration.k8s.io/MutatingWebhookConfiguration', cluster.mutatingWebhookConfigurationPrinter],
  ['admissionregistration.k8s.io/ValidatingWebhookConfiguration', cluster.validatingWebhookConfigurationPrinter],
  ['admissionregistration.k8s.io/ValidatingAdmissionPolicy', cluster.validatingAdmissionPolicyPrinter],
  ['admissionregistration.k8s.io/ValidatingAdmissionPolicyBinding', cluster.validatingAdmissionPolicyBindingPrinter],
  ['certificates.k8s.io/CertificateSigningRequest', cluster.certificateSigningRequestPrinter],
  ['node.k8s.io/RuntimeClass', cluster.runtimeClassPrinter],
  ['flowcontrol.apiserver.k8s.io/FlowSchema', cluster.flowSchemaPrinter],
  ['flowcontrol.apiserver.k8s.io/PriorityLevelConfiguration', cluster.priorityLevelConfigurationPrinter],
]);

/**
 * Wraps a printer so that no object shape makes it throw: a row that cannot
 * be printed still carries its name, with "<unknown>" in the other cells, and
 * always has exactly one cell per column.
 */
function guarded(printer: KindPrinter): KindPrinter {
  const { columns } = printer;
  return {
    columns,
    row(obj: any, now: Date): unknown[] {
      try {
        const cells = printer.row(obj, now);
        if (cells.length === columns.length) return cells;
      } catch {
        // fall through to the placeholder row
      }
      let name = '';
      try {
        name = nameOf(obj);
      } catch {
        // a getter on a hostile object threw; keep the empty name
      }
      return columns.map((c) => (c.format === 'name' ? name : '<unknown>'));
    },
  };
}

const GUARDED: ReadonlyMap<string, KindPrinter> = new Map([...PRINTERS].map(([key, printer]) => [key, guarded(printer)]));

/** The default (Name, Created At) printer used for kinds without their own. */
export const defaultPrinter: KindPrinter = guarded(basePrinter);

/** The printer for group+kind (group "" for core), or the default printer. */
export function printerFor(group: string, kind: string): KindPrinter {
  const g = group === 'core' ? '' : group;
  return GUARDED.get(`${g}/${kind}`) ?? defaultPrinter;
}

/** Whether group+kind has its own printer (false: the default Name/Created At table). */
export function hasPrinter(group: string, kind: string): boolean {
  return PRINTERS.has(`${group === 'core' ? '' : group}/${kind}`);
}
