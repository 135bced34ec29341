import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toSchemaNode } from './schema-node.js';
import { pyTorchJobSchema } from './testdata.js';

describe('toSchemaNode', () => {
  it('keeps structure and the x-kubernetes extensions patching and apply need', () => {
    const node = toSchemaNode({
      type: 'object',
      description: 'dropped',
      properties: {
        ports: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
          items: { type: 'object', properties: { name: { type: 'string' }, port: { 'x-kubernetes-int-or-string': true } } },
        },
        labels: { type: 'object', additionalProperties: { type: 'string' }, 'x-kubernetes-map-type': 'atomic' },
        free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      },
    });
    assert.deepEqual(node, {
      type: 'object',
      properties: {
        ports: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
          items: { type: 'object', properties: { name: { type: 'string' }, port: { 'x-kubernetes-int-or-string': true } } },
        },
        labels: { type: 'object', additionalProperties: { type: 'string' }, 'x-kubernetes-map-type': 'atomic' },
        free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
      },
    });
  });

  it('converts a PyTorchJob schema with defaults and enums intact', () => {
    const node = toSchemaNode(pyTorchJobSchema());
    const replica = (node.properties!.spec!.properties!.pytorchReplicaSpecs!.additionalProperties as any).properties;
    assert.equal(replica.replicas.default, 1);
    assert.deepEqual(replica.restartPolicy.enum, ['Always', 'OnFailure', 'Never', 'ExitCode']);
    assert.equal(replica.template['x-kubernetes-preserve-unknown-fields'], true);
  });
});
