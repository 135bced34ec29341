import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applySchemaDefaults } from './defaulting.js';
import { pruneObject } from './prune.js';
import { cronTabSchema, pyTorchJobSchema } from './testdata.js';
import type { JSONSchemaProps } from './types.js';

describe('pruneObject', () => {
  it('drops unknown fields, keeps root apiVersion/kind/metadata, and reports sorted paths', () => {
    const obj = {
      apiVersion: 'stable.example.com/v1',
      kind: 'CronTab',
      metadata: { name: 'c', labels: { a: 'b' }, anything: 1 },
      spec: { cronSpec: '* * * * *', foo: 1, bar: { x: 1 } },
      extra: true,
    };
    assert.deepEqual(pruneObject(cronTabSchema(), obj), ['extra', 'spec.bar', 'spec.foo']);
    assert.deepEqual(obj, {
      apiVersion: 'stable.example.com/v1',
      kind: 'CronTab',
      metadata: { name: 'c', labels: { a: 'b' }, anything: 1 },
      spec: { cronSpec: '* * * * *' },
    });
  });

  it('prunes inside arrays and additionalProperties, honours preserve-unknown-fields', () => {
    const job = {
      apiVersion: 'kubeflow.org/v1',
      kind: 'PyTorchJob',
      metadata: { name: 'j' },
      spec: {
        pytorchReplicaSpecs: { Worker: { replicas: 2, bogus: 1, template: { spec: { containers: [{ name: 'c', anything: 1 }] } } } },
        runPolicy: { cleanPodPolicy: 'All', unknownPolicy: 'x' },
      },
      status: { conditions: [{ type: 'Created', status: 'True', junk: 1 }], free: { form: true } },
    };
    assert.deepEqual(pruneObject(pyTorchJobSchema(), job), [
      'spec.pytorchReplicaSpecs.Worker.bogus',
      'spec.runPolicy.unknownPolicy',
      'status.conditions[0].junk',
    ]);
    assert.deepEqual(job.spec.pytorchReplicaSpecs.Worker, { replicas: 2, template: { spec: { containers: [{ name: 'c', anything: 1 }] } } });
    assert.deepEqual(job.status, { conditions: [{ type: 'Created', status: 'True' }], free: { form: true } });
  });

  it('prunes unknown metadata fields of embedded resources and drops disallowed nulls', () => {
    const schema: JSONSchemaProps = {
      type: 'object',
      properties: {
        spec: {
          type: 'object',
          properties: {
            template: { type: 'object', 'x-kubernetes-embedded-resource': true, properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } },
            note: { type: 'string' },
            maybe: { type: 'string', nullable: true },
          },
        },
      },
    };
    const obj = { spec: { template: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', bogus: 1 }, spec: {} }, note: null, maybe: null } };
    assert.deepEqual(pruneObject(schema, obj), ['spec.template.metadata.bogus']);
    assert.deepEqual(obj, { spec: { template: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: {} }, maybe: null } });
  });
});

describe('applySchemaDefaults', () => {
  it('applies defaults top-down, in additionalProperties values and for non-nullable nulls', () => {
    const job: Record<string, any> = {
      spec: { runPolicy: {}, pytorchReplicaSpecs: { Master: {}, Worker: { replicas: null } } },
    };
    applySchemaDefaults(pyTorchJobSchema(), job);
    assert.deepEqual(job.spec, {
      runPolicy: { cleanPodPolicy: 'None' },
      pytorchReplicaSpecs: { Master: { replicas: 1 }, Worker: { replicas: 1 } },
    });
  });

  it('defaults a missing object and then its own fields, and items of arrays', () => {
    const schema: JSONSchemaProps = {
      type: 'object',
      properties: {
        spec: {
          type: 'object',
          default: {},
          properties: {
            replicas: { type: 'integer', default: 1 },
            ports: { type: 'array', items: { type: 'object', properties: { protocol: { type: 'string', default: 'TCP' } } } },
            keep: { type: 'string', nullable: true, default: 'd' },
          },
        },
      },
    };
    const a: Record<string, any> = {};
    applySchemaDefaults(schema, a);
    assert.deepEqual(a, { spec: { replicas: 1, keep: 'd' } });
    const b: Record<string, any> = { spec: { ports: [{}, { protocol: 'UDP' }], keep: null } };
    applySchemaDefaults(schema, b);
    assert.deepEqual(b, { spec: { replicas: 1, ports: [{ protocol: 'TCP' }, { protocol: 'UDP' }], keep: null } });
  });

  it('copies defaults so objects do not share them', () => {
    const schema: JSONSchemaProps = { type: 'object', properties: { cfg: { type: 'object', default: { a: 1 }, properties: { a: { type: 'integer' } } } } };
    const x: Record<string, any> = {};
    const y: Record<string, any> = {};
    applySchemaDefaults(schema, x);
    applySchemaDefaults(schema, y);
    x.cfg.a = 2;
    assert.equal(y.cfg.a, 1);
    assert.equal(schema.properties!.cfg!.default && (schema.properties!.cfg!.default as any).a, 1);
  });
});
