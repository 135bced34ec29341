import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluateJsonPath, executeJsonPath, findJsonPathResults, jsonPathSyntaxError } from './jsonpath.js';

const job = {
  metadata: { name: 'mnist', labels: { app: 'train' }, creationTimestamp: '2024-01-01T00:00:00Z' },
  spec: { replicas: 3, ratio: 0.25, containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }, { name: 'c', image: 'z' }] },
  status: {
    conditions: [
      { type: 'Created', status: 'True', priority: 1 },
      { type: 'Running', status: 'False', priority: 2 },
      { type: 'Ready', status: 'True', priority: 3 },
    ],
  },
};

describe('evaluateJsonPath', () => {
  it('reads fields, with or without braces', () => {
    assert.deepEqual(evaluateJsonPath('.spec.replicas', job), [3]);
    assert.deepEqual(evaluateJsonPath('{.metadata.name}', job), ['mnist']);
    assert.deepEqual(evaluateJsonPath("{.metadata.labels['app']}", job), ['train']);
  });

  it('returns nothing for missing keys, or throws when they are not allowed', () => {
    assert.deepEqual(evaluateJsonPath('.status.missing.deeper', job), []);
    assert.throws(() => evaluateJsonPath('.status.missing', job, { allowMissingKeys: false }), /missing is not found/);
  });

  it('indexes, slices, wildcards and unions arrays', () => {
    assert.deepEqual(evaluateJsonPath('.spec.containers[0].name', job), ['a']);
    assert.deepEqual(evaluateJsonPath('.spec.containers[-1].name', job), ['c']);
    assert.deepEqual(evaluateJsonPath('.spec.containers[0:2].name', job), ['a', 'b']);
    assert.deepEqual(evaluateJsonPath('.spec.containers[*].image', job), ['x', 'y', 'z']);
    assert.deepEqual(evaluateJsonPath('.spec.containers[0,2].name', job), ['a', 'c']);
    assert.deepEqual(evaluateJsonPath('.status.conditions[-1:].type', job), ['Ready']);
    assert.throws(() => evaluateJsonPath('.spec.containers[5]', job), /array index out of bounds: index 5, length 3/);
  });

  it('filters with comparisons and existence', () => {
    assert.deepEqual(evaluateJsonPath('.status.conditions[?(@.type=="Ready")].status', job), ['True']);
    assert.deepEqual(evaluateJsonPath('.status.conditions[?(@.priority>1)].type', job), ['Running', 'Ready']);
    assert.deepEqual(evaluateJsonPath(".status.conditions[?(@.status!='True')].type", job), ['Running']);
    assert.deepEqual(evaluateJsonPath('.spec.containers[?(@.image)].name', job), ['a', 'b', 'c']);
    assert.throws(() => evaluateJsonPath('.status.conditions[?(@.priority=="1")].type', job), /incompatible types for comparison/);
  });

  it('descends recursively', () => {
    assert.deepEqual(evaluateJsonPath('..name', job), ['mnist', 'a', 'b', 'c']);
  });

  it('reports syntax errors with client-go messages', () => {
    assert.equal(jsonPathSyntaxError('{.spec.replicas'), 'unclosed action');
    assert.equal(jsonPathSyntaxError('{.spec[0}'), 'unterminated array');
    assert.equal(jsonPathSyntaxError('{.spec[x]}'), 'invalid array index x');
    assert.equal(jsonPathSyntaxError('{.spec.replicas}'), undefined);
  });
});

describe('executeJsonPath', () => {
  it('prints text, scalars, JSON for objects and supports range/end', () => {
    assert.equal(executeJsonPath('name={.metadata.name} r={.spec.replicas} f={.spec.ratio}', job), 'name=mnist r=3 f=0.25');
    assert.equal(executeJsonPath('{.metadata.labels}', job), '{"app":"train"}');
    assert.equal(executeJsonPath('{range .spec.containers[*]}{.name}:{.image} {end}', job), 'a:x b:y c:z ');
    assert.equal(executeJsonPath('{.spec.containers[*].name}', job), 'a b c');
  });

  it('groups results per action', () => {
    assert.deepEqual(findJsonPathResults('{.metadata.name}/{.spec.replicas}', job), [['mnist'], ['/'], [3]]);
  });
});
