import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fieldErrorMessage } from '../../api/errors.js';
import { validateCustomObject } from './custom-object.js';
import { cronTabSchema, pyTorchJobSchema } from './testdata.js';
import type { JSONSchemaProps } from './types.js';

const check = (schema: JSONSchemaProps, obj: unknown) => validateCustomObject(schema, obj).map(fieldErrorMessage);

const cronTab = (spec: Record<string, unknown>) => ({
  apiVersion: 'stable.example.com/v1',
  kind: 'CronTab',
  metadata: { name: 'my-cron', namespace: 'default' },
  spec: { cronSpec: '* * * * */5', ...spec },
});

describe('validateCustomObject', () => {
  it('accepts a valid CronTab', () => {
    assert.deepEqual(check(cronTabSchema(), cronTab({ image: 'my-awesome-cron-image', replicas: 3, color: 'red' })), []);
  });

  it('reports type, bounds, enum, pattern and required errors with upstream messages', () => {
    assert.deepEqual(check(cronTabSchema(), cronTab({ replicas: 'string' })), [
      'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"',
    ]);
    assert.deepEqual(check(cronTabSchema(), cronTab({ replicas: 11 })), [
      'spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10',
    ]);
    assert.deepEqual(check(cronTabSchema(), cronTab({ replicas: 0 })), [
      'spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or equal to 1',
    ]);
    assert.deepEqual(check(cronTabSchema(), cronTab({ replicas: 2.5 })), [
      'spec.replicas: Invalid value: "number": spec.replicas in body must be of type integer: "number"',
    ]);
    assert.deepEqual(check(cronTabSchema(), cronTab({ color: 'pink' })), [
      'spec.color: Unsupported value: "pink": supported values: "red", "blue"',
    ]);
    assert.deepEqual(check(cronTabSchema(), cronTab({ cronSpec: 'every minute' })), [
      "spec.cronSpec: Invalid value: \"every minute\": spec.cronSpec in body should match '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'",
    ]);
    const noCron = cronTab({});
    delete (noCron.spec as Record<string, unknown>).cronSpec;
    assert.deepEqual(check(cronTabSchema(), noCron), ['spec.cronSpec: Required value']);
  });

  it('distinguishes null, nullable and numbers that are integers', () => {
    const schema: JSONSchemaProps = {
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'string', nullable: true }, n: { type: 'number', maximum: 1.5, exclusiveMaximum: true } },
    };
    assert.deepEqual(check(schema, { a: null, b: null, n: 0.5 }), ['a: Invalid value: "null": a in body must be of type string: "null"']);
    assert.deepEqual(check(schema, { n: 1.5 }), ['n: Invalid value: 1.5: n in body should be less than 1.5']);
    // Integral values compare against the bound truncated to an integer, as kube-openapi's MaximumNativeType does.
    assert.deepEqual(check(schema, { n: 1 }), ['n: Invalid value: 1: n in body should be less than 1']);
  });

  it('checks lengths, item counts, properties counts, multipleOf and formats', () => {
    const schema: JSONSchemaProps = {
      type: 'object',
      properties: {
        s: { type: 'string', minLength: 2, maxLength: 3 },
        l: { type: 'array', items: { type: 'integer' }, minItems: 1, maxItems: 2 },
        m: { type: 'object', additionalProperties: { type: 'string' }, maxProperties: 1 },
        k: { type: 'integer', multipleOf: 5 },
        t: { type: 'string', format: 'date-time' },
        i: { type: 'integer', format: 'int32' },
      },
    };
    assert.deepEqual(check(schema, { s: 'abcd', l: [1, 2, 3], m: { a: 'x', b: 'y' }, k: 7, t: 'yesterday', i: 2 ** 40 }), [
      's: Too long: may not be more than 3 bytes',
      'l: Too many: 3: must have at most 2 items',
      'm: Too many: 2: must have at most 1 items',
      'k: Invalid value: 7: k in body should be a multiple of 5',
      't: Invalid value: "yesterday": t in body must be of type date-time: "yesterday"',
    ]);
    assert.deepEqual(check(schema, { s: 'a', l: [] }), [
      's: Invalid value: "a": s in body should be at least 2 chars long',
      'l: Invalid value: 0: l in body should have at least 1 items',
    ]);
    assert.deepEqual(check(schema, { t: '2024-05-01T10:00:00Z' }), []);
  });

  it('handles int-or-string and anyOf/oneOf/allOf/not', () => {
    const schema: JSONSchemaProps = {
      type: 'object',
      properties: {
        port: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
        size: { type: 'string', oneOf: [{ pattern: '^[0-9]+$' }, { pattern: '^[0-9]+Gi$' }] },
        mode: { type: 'string', not: { enum: ['forbidden'] } },
      },
    };
    assert.deepEqual(check(schema, { port: 8080, size: '10', mode: 'ok' }), []);
    assert.deepEqual(check(schema, { port: 'http', size: '10Gi' }), []);
    assert.deepEqual(check(schema, { port: true }), [
      'port: Invalid value: "boolean": port in body must be of type integer,string: "boolean"',
      '<nil>: Invalid value: "": "port" must validate at least one schema (anyOf)',
      'port: Invalid value: "boolean": port in body must be of type integer: "boolean"',
    ]);
    assert.deepEqual(check(schema, { size: 'big' }), [
      '<nil>: Invalid value: "": "size" must validate one and only one schema (oneOf). Found none valid',
      "size: Invalid value: \"big\": size in body should match '^[0-9]+$'",
    ]);
    assert.deepEqual(check(schema, { mode: 'forbidden' }), ['<nil>: Invalid value: "": "mode" must not validate the schema (not)']);
  });

  it('reports duplicates in x-kubernetes-list-type set and map lists', () => {
    assert.deepEqual(check(cronTabSchema(), cronTab({ tags: ['a', 'b', 'a', 'a'] })), ['spec.tags[2]: Duplicate value: "a"']);
    const schema: JSONSchemaProps = {
      type: 'object',
      properties: {
        ports: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['name'],
          items: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, port: { type: 'integer' } } },
        },
      },
    };
    assert.deepEqual(check(schema, { ports: [{ name: 'http', port: 80 }, { name: 'http', port: 8080 }] }), [
      'ports[1]: Duplicate value: {"name":"http"}',
    ]);
  });

  it('requires apiVersion and kind on embedded resources', () => {
    const schema: JSONSchemaProps = {
      type: 'object',
      properties: {
        spec: {
          type: 'object',
          properties: { template: { type: 'object', 'x-kubernetes-embedded-resource': true, 'x-kubernetes-preserve-unknown-fields': true } },
        },
      },
    };
    assert.deepEqual(check(schema, { spec: { template: { kind: 'Pod', metadata: { name: 'a/b' } } } }), [
      'spec.template.apiVersion: Required value: must not be empty',
      "spec.template.metadata.name: Invalid value: \"a/b\": may not contain '/'",
    ]);
  });

  it('validates the root metadata against a schema that constrains name', () => {
    const schema: JSONSchemaProps = { type: 'object', properties: { metadata: { type: 'object', properties: { name: { type: 'string', maxLength: 5 } } } } };
    assert.deepEqual(check(schema, { metadata: { name: 'too-long-name' } }), ['metadata.name: Too long: may not be more than 5 bytes']);
  });

  it('validates a PyTorchJob with replica specs as additionalProperties', () => {
    const job = {
      apiVersion: 'kubeflow.org/v1',
      kind: 'PyTorchJob',
      metadata: { name: 'mnist' },
      spec: {
        pytorchReplicaSpecs: {
          Master: { replicas: 1, restartPolicy: 'OnFailure', template: { spec: { containers: [{ name: 'pytorch', image: 'x' }] } } },
          Worker: { replicas: 'two', restartPolicy: 'Sometimes' },
        },
      },
    };
    assert.deepEqual(check(pyTorchJobSchema(), job), [
      'spec.pytorchReplicaSpecs.Worker.replicas: Invalid value: "string": spec.pytorchReplicaSpecs.Worker.replicas in body must be of type integer: "string"',
      'spec.pytorchReplicaSpecs.Worker.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never", "ExitCode"',
    ]);
  });
});
