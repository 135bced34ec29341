/** Realistic CRDs shared by the CRD machinery tests: the docs' CronTab and a Kubeflow-like PyTorchJob. */
import type { CRD, JSONSchemaProps } from './types.js';

/** The CronTab CRD from the Kubernetes documentation (with printer columns and scale). */
export function cronTabCRD(): CRD {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'crontabs.stable.example.com' },
    spec: {
      group: 'stable.example.com',
      scope: 'Namespaced',
      names: { plural: 'crontabs', singular: 'crontab', kind: 'CronTab', shortNames: ['ct'] },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: cronTabSchema() },
          subresources: { status: {}, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } },
          additionalPrinterColumns: [
            { name: 'Spec', type: 'string', description: 'The cron spec defining the interval a CronJob is run', jsonPath: '.spec.cronSpec' },
            { name: 'Replicas', type: 'integer', description: 'The number of jobs launched by the CronJob', jsonPath: '.spec.replicas' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
        },
      ],
    },
  };
}

/** The CronTab schema. */
export function cronTabSchema(): JSONSchemaProps {
  return {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        required: ['cronSpec'],
        properties: {
          cronSpec: { type: 'string', pattern: '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$' },
          image: { type: 'string' },
          replicas: { type: 'integer', minimum: 1, maximum: 10, default: 1 },
          color: { type: 'string', enum: ['red', 'blue'] },
          tags: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
        },
      },
      status: { type: 'object', properties: { replicas: { type: 'integer' } } },
    },
  };
}

/** A fragment of Kubeflow's PyTorchJob schema (replica specs map, run policy, embedded pod template left open). */
export function pyTorchJobSchema(): JSONSchemaProps {
  return {
    type: 'object',
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: {
        type: 'object',
        required: ['pytorchReplicaSpecs'],
        properties: {
          runPolicy: {
            type: 'object',
            properties: {
              cleanPodPolicy: { type: 'string', default: 'None' },
              backoffLimit: { type: 'integer', format: 'int32' },
              ttlSecondsAfterFinished: { type: 'integer', format: 'int32' },
            },
          },
          elasticPolicy: {
            type: 'object',
            properties: {
              minReplicas: { type: 'integer', format: 'int32' },
              maxReplicas: { type: 'integer', format: 'int32' },
              rdzvBackend: { type: 'string' },
            },
          },
          pytorchReplicaSpecs: {
            type: 'object',
            additionalProperties: {
              type: 'object',
              properties: {
                replicas: { type: 'integer', format: 'int32', default: 1 },
                restartPolicy: { type: 'string', enum: ['Always', 'OnFailure', 'Never', 'ExitCode'] },
                template: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
              },
            },
          },
        },
      },
      status: {
        type: 'object',
        properties: {
          conditions: {
            type: 'array',
            items: {
              type: 'object',
              required: ['type', 'status'],
              properties: {
                type: { type: 'string' },
                status: { type: 'string' },
                reason: { type: 'string' },
                lastTransitionTime: { type: 'string', format: 'date-time' },
              },
            },
          },
        },
        'x-kubernetes-preserve-unknown-fields': true,
      },
    },
  };
}

/** The PyTorchJob CRD around that schema. */
export function pyTorchJobCRD(): CRD {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'pytorchjobs.kubeflow.org' },
    spec: {
      group: 'kubeflow.org',
      scope: 'Namespaced',
      names: { plural: 'pytorchjobs', singular: 'pytorchjob', kind: 'PyTorchJob', listKind: 'PyTorchJobList' },
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openAPIV3Schema: pyTorchJobSchema() },
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'State', type: 'string', jsonPath: '.status.conditions[-1:].type' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
        },
      ],
    },
  };
}
