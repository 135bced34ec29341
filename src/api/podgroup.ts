/**
 * The PodGroup API of gang scheduling: `scheduling.x-k8s.io/v1alpha1`
 * PodGroup as kubernetes-sigs/scheduler-plugins defines it (apis/scheduling/
 * v1alpha1), the pod label that names a pod's group, and the
 * CustomResourceDefinition Kite serves it by — the same group, names, short
 * names, schema, status subresource and printer columns as upstream's CRD,
 * so manifests and clients written for scheduler-plugins work unchanged.
 * PodGroup is not a Kubernetes built-in, so its type is written here rather
 * than generated from the Kubernetes OpenAPI spec.
 */
import type { ResourceRef } from '../client/client.js';

/** The API group of PodGroup (upstream scheduling.GroupName). */
export const SCHEDULING_X_K8S_GROUP = 'scheduling.x-k8s.io';
/** The pod label naming the PodGroup (in the pod's namespace) a pod belongs to (upstream v1alpha1.PodGroupLabel). */
export const POD_GROUP_LABEL = 'scheduling.x-k8s.io/pod-group';
/** PodGroups as a client addresses them. */
export const PODGROUPS = { group: SCHEDULING_X_K8S_GROUP, version: 'v1alpha1', resource: 'podgroups' } as const satisfies ResourceRef;
/** The CRD's name. */
export const PODGROUP_CRD_NAME = 'podgroups.scheduling.x-k8s.io';
/** How long a gang waits at Permit when neither the PodGroup nor the scheduler says (upstream util.DefaultWaitTime). */
export const DEFAULT_SCHEDULE_TIMEOUT_SECONDS = 60;

/** Phases of a PodGroup (upstream PodGroupPhase values). */
export const PodGroupPhase = {
  /** Accepted, but fewer than minMember pods exist yet, or the scheduler cannot place them. */
  Pending: 'Pending',
  /** At least minMember pods are running (or have succeeded). */
  Running: 'Running',
  /** minMember pods exist but fewer than minMember run yet. */
  Scheduling: 'Scheduling',
  /** Part of the group was placed and the rest cannot be. */
  Unknown: 'Unknown',
  /** minMember pods have succeeded. */
  Finished: 'Finished',
  /** A pod failed and the group cannot reach minMember running or succeeded pods. */
  Failed: 'Failed',
} as const;

/** One of the PodGroup phases. */
export type PodGroupPhase = (typeof PodGroupPhase)[keyof typeof PodGroupPhase];

/** A PodGroup condition (Kite's addition to upstream's status: why a gang waits, in the shape of every Kubernetes condition). */
export interface PodGroupCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/** A group of pods that are scheduled together or not at all. */
export interface PodGroup {
  apiVersion?: 'scheduling.x-k8s.io/v1alpha1';
  kind?: 'PodGroup';
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    [k: string]: unknown;
  };
  spec?: {
    /** Pods that must be placeable at once before any is bound (at least 1). */
    minMember?: number;
    /** Resources the whole group needs; checked against the cluster's free resources before placing any member. */
    minResources?: Record<string, string | number>;
    /** How long placed members wait for the rest before the group is given up and retried. */
    scheduleTimeoutSeconds?: number;
  };
  status?: {
    phase?: PodGroupPhase;
    occupiedBy?: string;
    running?: number;
    succeeded?: number;
    failed?: number;
    scheduleStartTime?: string;
    conditions?: PodGroupCondition[];
  };
}

/** The PodGroup a pod names, or '' (upstream util.GetPodGroupLabel). */
export function podGroupName(pod: { metadata?: { labels?: Record<string, string> } }): string {
  return pod.metadata?.labels?.[POD_GROUP_LABEL] ?? '';
}

/** `namespace/group` of a pod's PodGroup, or '' when it names none (upstream util.GetPodGroupFullName). */
export function podGroupFullName(pod: { metadata?: { namespace?: string; labels?: Record<string, string> } }): string {
  const name = podGroupName(pod);
  return name ? `${pod.metadata?.namespace ?? ''}/${name}` : '';
}

/** The CustomResourceDefinition that serves PodGroup (upstream manifests/coscheduling/crd.yaml, in Kite's words). */
export function podGroupCRD(): Record<string, unknown> {
  const int32 = (description: string) => ({ type: 'integer', format: 'int32', description });
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: PODGROUP_CRD_NAME,
      annotations: { 'api-approved.kubernetes.io': 'https://github.com/kubernetes-sigs/scheduler-plugins/pull/50' },
    },
    spec: {
      group: SCHEDULING_X_K8S_GROUP,
      names: { kind: 'PodGroup', listKind: 'PodGroupList', plural: 'podgroups', singular: 'podgroup', shortNames: ['pg', 'pgs'] },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1alpha1',
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'The phase the group is in.' },
            { name: 'MinMember', type: 'integer', jsonPath: '.spec.minMember', description: 'Pods that must be placeable together before any is bound.' },
            { name: 'Running', type: 'integer', jsonPath: '.status.running', description: 'Member pods that are running.' },
            { name: 'Succeeded', type: 'integer', jsonPath: '.status.succeeded', description: 'Member pods that have succeeded.' },
            { name: 'Failed', type: 'integer', jsonPath: '.status.failed', description: 'Member pods that have failed.' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since the group was created.' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'PodGroup is a set of pods that the scheduler places all together or not at all (gang scheduling).',
              properties: {
                apiVersion: { type: 'string', description: 'The versioned schema of this object (scheduling.x-k8s.io/v1alpha1).' },
                kind: { type: 'string', description: 'The kind of this object (PodGroup).' },
                metadata: { type: 'object' },
                spec: {
                  type: 'object',
                  description: 'What the group needs before any of its pods is bound.',
                  properties: {
                    minMember: {
                      ...int32('How many member pods must be placeable at the same time; until then none is bound. At least 1.'),
                      minimum: 1,
                    },
                    minResources: {
                      type: 'object',
                      description: 'Resources the group needs in all; a group whose minResources exceed what the cluster has free is not placed at all.',
                      additionalProperties: {
                        anyOf: [{ type: 'integer' }, { type: 'string' }],
                        pattern: '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
                        'x-kubernetes-int-or-string': true,
                      },
                    },
                    scheduleTimeoutSeconds: int32('How long placed members wait for the rest of the group before all are released and retried.'),
                  },
                },
                status: {
                  type: 'object',
                  description: 'What the group is doing now, as last observed; may lag behind.',
                  properties: {
                    phase: { type: 'string', description: 'The phase of the group: Pending, Scheduling, Running, Unknown, Finished or Failed.' },
                    occupiedBy: { type: 'string', description: 'The owners (namespace/name, comma-separated) of the member pods; empty until known.' },
                    running: int32('Member pods that are running.'),
                    succeeded: int32('Member pods that have succeeded.'),
                    failed: int32('Member pods that have failed.'),
                    scheduleStartTime: { type: 'string', format: 'date-time', description: 'When enough member pods existed for the scheduler to start placing the group.' },
                    conditions: {
                      type: 'array',
                      description: 'Observations of the group; the Scheduled condition says whether the scheduler could place the whole group, and if not, why.',
                      'x-kubernetes-list-type': 'map',
                      'x-kubernetes-list-map-keys': ['type'],
                      items: {
                        type: 'object',
                        required: ['type', 'status'],
                        properties: {
                          type: { type: 'string', description: 'The kind of observation, e.g. Scheduled.' },
                          status: { type: 'string', description: 'True, False or Unknown.' },
                          reason: { type: 'string', description: 'A one-word reason for the last transition.' },
                          message: { type: 'string', description: 'A human-readable account of the last transition.' },
                          lastTransitionTime: { type: 'string', format: 'date-time', description: 'When the status last changed.' },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
}
