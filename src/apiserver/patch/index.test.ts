import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../api/errors.js';
import { definitions } from '../../api/generated/schema.js';
import { SchemaResolver } from '../../api/schema.js';
import { applyPatch, PatchType, type PatchContext } from './index.js';

const builtin: PatchContext = {
  resolver: new SchemaResolver(definitions),
  schema: { $ref: '#/definitions/io.k8s.api.apps.v1.Deployment' },
  allowStrategic: true,
};
const custom: PatchContext = { allowStrategic: false };

const deploy = () => ({
  metadata: { name: 'd', labels: { app: 'd' } },
  spec: {
    replicas: 1,
    template: { spec: { containers: [{ name: 'app', image: 'a:1' }, { name: 'side', image: 's:1' }] } },
  },
});

function assertApiError(fn: () => unknown, code: number, reason: string, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ApiError, `expected ApiError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.reason, reason);
    assert.equal(e.message, message);
    return true;
  });
}

test('kubectl scale (merge patch) and kubectl patch --type json change the object', () => {
  const scaled = applyPatch(PatchType.merge, deploy(), '{"spec":{"replicas":3}}', builtin) as any;
  assert.equal(scaled.spec.replicas, 3);
  const json = applyPatch(
    'application/json-patch+json; charset=utf-8',
    deploy(),
    '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"a:2"}]',
    builtin,
  ) as any;
  assert.equal(json.spec.template.spec.containers[0].image, 'a:2');
});

test('strategic merge patch merges containers by name for built-in types', () => {
  const out = applyPatch(
    PatchType.strategic,
    deploy(),
    '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"s:2"}]}}}}',
    builtin,
  ) as any;
  assert.deepEqual(out.spec.template.spec.containers, [
    { name: 'app', image: 'a:1' },
    { name: 'side', image: 's:2' },
  ]);
});

test('merge patch on the same body replaces the whole list', () => {
  const out = applyPatch(PatchType.merge, deploy(), '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"s:2"}]}}}}', builtin) as any;
  assert.deepEqual(out.spec.template.spec.containers, [{ name: 'side', image: 's:2' }]);
});

test('strategic merge patch on a custom resource is 415 with the accepted types', () => {
  assertApiError(
    () => applyPatch(PatchType.strategic, {}, '{}', custom),
    415,
    'UnsupportedMediaType',
    'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
  );
});

test('an unknown content type is 415 listing every patch type the resource accepts', () => {
  assertApiError(
    () => applyPatch('application/json', {}, '{}', builtin),
    415,
    'UnsupportedMediaType',
    'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml',
  );
});

test('undecodable bodies are 400 with the decoder text upstream returns', () => {
  assertApiError(() => applyPatch(PatchType.merge, {}, '{"spec":', builtin), 400, 'BadRequest', 'Invalid JSON Patch');
  assertApiError(() => applyPatch(PatchType.merge, {}, 'null', builtin), 400, 'BadRequest', 'Invalid JSON Patch');
  assertApiError(
    () => applyPatch(PatchType.json, {}, '[{"op":"add",}]', builtin),
    400,
    'BadRequest',
    `invalid character '}' looking for beginning of object key string`,
  );
  assertApiError(() => applyPatch(PatchType.json, {}, '', builtin), 400, 'BadRequest', 'unexpected end of JSON input');
  assertApiError(
    () => applyPatch(PatchType.strategic, {}, '{"a":1} x', builtin),
    400,
    'BadRequest',
    `invalid character 'x' after top-level value`,
  );
  assertApiError(
    () => applyPatch(PatchType.strategic, {}, '[1]', builtin),
    400,
    'BadRequest',
    'json: cannot unmarshal array into Go value of type map[string]interface {}',
  );
});

test('a JSON patch that does not apply is 422 Invalid', () => {
  assertApiError(
    () => applyPatch(PatchType.json, deploy(), '[{"op":"remove","path":"/spec/paused"}]', builtin),
    422,
    'Invalid',
    'the server rejected our request due to an error in our request',
  );
});

test('server-side apply bodies are not handled here', () => {
  assert.throws(() => applyPatch(PatchType.apply, {}, 'spec: {}', builtin), ApiError);
});

test('the document passed in is left untouched', () => {
  const doc = deploy();
  applyPatch(PatchType.strategic, doc, '{"metadata":{"labels":{"app":null}}}', builtin);
  applyPatch(PatchType.merge, doc, '{"spec":{"replicas":5}}', builtin);
  applyPatch(PatchType.json, doc, '[{"op":"add","path":"/spec/paused","value":true}]', builtin);
  assert.deepEqual(doc, deploy());
});
