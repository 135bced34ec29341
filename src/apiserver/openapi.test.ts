import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { definitions } from '../api/generated/schema.js';
import { builtinResources, type ResourceInfo } from '../api/resources.js';
import { OpenApiDocuments, openApiResponse } from './openapi.js';

/** A CronTab custom resource as the CRD registry would hand it over. */
const cronTab: ResourceInfo = {
  group: 'stable.example.com',
  version: 'v1',
  resource: 'crontabs',
  kind: 'CronTab',
  listKind: 'CronTabList',
  singular: 'crontab',
  namespaced: true,
  verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
  shortNames: ['ct'],
  categories: [],
  subresources: [
    { name: 'status', group: 'stable.example.com', version: 'v1', kind: 'CronTab', verbs: ['get', 'patch', 'update'] },
    { name: 'scale', group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] },
  ],
  custom: true,
  schema: {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        required: ['cronSpec', 'note'],
        properties: {
          cronSpec: { type: 'string' },
          image: { type: 'string' },
          replicas: { type: 'integer' },
          note: { type: 'string', nullable: true },
          extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { a: { type: 'string' } } },
        },
      },
      status: { type: 'object', properties: { replicas: { type: 'integer' } } },
    },
  },
};

type Json = Record<string, any>;

function docs(resources: readonly ResourceInfo[] = builtinResources()): OpenApiDocuments {
  const d = new OpenApiDocuments(definitions);
  d.setResources(resources);
  return d;
}

function v3(d: OpenApiDocuments, prefix: string): Json {
  const body = d.v3(prefix);
  assert.ok(body, `no v3 document for ${prefix}`);
  return JSON.parse(body);
}

/** Every string-valued `$ref` in a document (a property *named* `$ref` holds a schema object and is skipped). */
function refsIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => refsIn(v, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsIn(v, out);
    }
  }
  return out;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/** kubectl's `supportsQueryParamV3`: the first PATCH operation tagged with the GVK must list the query parameter itself. */
function patchSupports(doc: Json, gvk: { group: string; version: string; kind: string }, param: string): boolean | undefined {
  for (const item of Object.values<Json>(doc.paths)) {
    const op = item.patch;
    const g = op?.['x-kubernetes-group-version-kind'];
    if (!g || g.group !== gvk.group || g.version !== gvk.version || g.kind !== gvk.kind) continue;
    return (op.parameters ?? []).some((p: Json) => p.name === param && p.in === 'query');
  }
  return undefined;
}

describe('OpenAPI v2', () => {
  test('carries the Pod definition with the strategic-merge metadata kubectl apply reads', () => {
    const doc = JSON.parse(docs().v2());
    assert.equal(doc.swagger, '2.0');
    assert.equal(doc.info.title, 'Kubernetes');
    assert.match(doc.info.version, /^v1\.32\./);
    assert.deepEqual(doc.definitions['io.k8s.api.core.v1.Pod']['x-kubernetes-group-version-kind'], [{ group: '', kind: 'Pod', version: 'v1' }]);
    const containers = doc.definitions['io.k8s.api.core.v1.PodSpec'].properties.containers;
    assert.equal(containers['x-kubernetes-patch-merge-key'], 'name');
    assert.equal(containers['x-kubernetes-patch-strategy'], 'merge');
    assert.deepEqual(containers.items, { $ref: '#/definitions/io.k8s.api.core.v1.Container' });

    const patch = doc.paths['/api/v1/namespaces/{namespace}/pods/{name}'].patch;
    assert.equal(patch.operationId, 'patchCoreV1NamespacedPod');
    assert.equal(patch['x-kubernetes-action'], 'patch');
    assert.ok(patch.consumes.includes('application/strategic-merge-patch+json'));
    assert.ok(patch.consumes.includes('application/apply-patch+yaml'));
    assert.deepEqual(
      patch.parameters.map((p: Json) => p.name),
      ['body', 'dryRun', 'fieldManager', 'fieldValidation', 'force'],
    );
    assert.equal(doc.paths['/api/v1/namespaces/{namespace}/pods'].get.operationId, 'listCoreV1NamespacedPod');
    assert.equal(doc.paths['/api/v1/pods'].get.operationId, 'listCoreV1PodForAllNamespaces');
    assert.equal(doc.paths['/apis/rbac.authorization.k8s.io/v1/clusterroles'].delete.operationId, 'deleteRbacAuthorizationV1CollectionClusterRole');
  });

  test('scale subresources are described with the autoscaling/v1 Scale kind', () => {
    const doc = JSON.parse(docs().v2());
    const scale = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale'];
    assert.deepEqual(scale.put['x-kubernetes-group-version-kind'], { group: 'autoscaling', kind: 'Scale', version: 'v1' });
    assert.deepEqual(scale.get.responses['200'].schema, { $ref: '#/definitions/io.k8s.api.autoscaling.v1.Scale' });
  });
});

describe('OpenAPI v3', () => {
  test('the index lists each group-version with a URL pinned to the hash of its document', () => {
    const d = docs();
    const index = JSON.parse(d.v3Index());
    for (const prefix of ['api/v1', 'apis/apps/v1', 'apis/batch/v1']) {
      const hash = d.v3Hash(prefix)!;
      assert.match(hash, /^[0-9A-F]{128}$/);
      assert.equal(hash, createHash('sha512').update(d.v3(prefix)!).digest('hex').toUpperCase());
      assert.equal(index.paths[prefix].serverRelativeURL, `/openapi/v3/${prefix}?hash=${hash}`);
    }
    assert.equal(d.v3('apis/nope/v1'), undefined);
    assert.equal(d.v3Hash('apis/nope/v1'), undefined);
  });

  test('apps/v1 deployment PATCH offers fieldValidation and strategic merge patch', () => {
    const doc = v3(docs(), 'apis/apps/v1');
    assert.equal(doc.openapi, '3.0.0');
    const patch = doc.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'].patch;
    assert.equal(patch.operationId, 'patchAppsV1NamespacedDeployment');
    assert.deepEqual(patch['x-kubernetes-group-version-kind'], { group: 'apps', kind: 'Deployment', version: 'v1' });
    assert.ok(patch.parameters.some((p: Json) => p.name === 'fieldValidation' && p.in === 'query'));
    assert.ok(patch.requestBody.content['application/strategic-merge-patch+json']);
    assert.deepEqual(patch.responses['200'].content['application/json'].schema, { $ref: '#/components/schemas/io.k8s.api.apps.v1.Deployment' });
    const deployment = doc.components.schemas['io.k8s.api.apps.v1.Deployment'];
    assert.deepEqual(deployment['x-kubernetes-group-version-kind'], [{ group: 'apps', kind: 'Deployment', version: 'v1' }]);
    // Only what apps/v1 reaches: no core-only kinds such as Service.
    assert.equal(doc.components.schemas['io.k8s.api.core.v1.Service'], undefined);
    assert.ok(doc.components.schemas['io.k8s.api.core.v1.PodSpec']);
  });

  test('schemas take the v3 forms: $ref with siblings wrapped in allOf, int-or-string as oneOf', () => {
    const doc = v3(docs(), 'apis/apps/v1');
    const strategy = doc.components.schemas['io.k8s.api.apps.v1.DeploymentSpec'].properties.strategy;
    assert.deepEqual(strategy, {
      allOf: [{ $ref: '#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy' }],
      'x-kubernetes-patch-strategy': 'retainKeys',
    });
    assert.deepEqual(doc.components.schemas['io.k8s.apimachinery.pkg.util.intstr.IntOrString'].oneOf, [{ type: 'integer' }, { type: 'string' }]);
  });

  test('every PATCH of every served resource passes kubectl\'s fieldValidation check', () => {
    const resources = [...builtinResources(), cronTab];
    const d = docs(resources);
    for (const r of resources) {
      const prefix = r.group ? `apis/${r.group}/${r.version}` : `api/${r.version}`;
      const doc = v3(d, prefix);
      for (const [path, item] of Object.entries<Json>(doc.paths)) {
        // Connect subresources (pods/proxy) take PATCH too, under their *Options kind, without write parameters, as upstream.
        if (item.patch?.['x-kubernetes-group-version-kind'] && item.patch['x-kubernetes-action'] === 'patch') {
          assert.ok(item.patch.parameters?.some((p: Json) => p.name === 'fieldValidation'), `${path} PATCH lacks fieldValidation`);
        }
      }
      if (r.verbs.includes('patch')) {
        assert.equal(patchSupports(doc, r, 'fieldValidation'), true, `${prefix} ${r.kind}`);
      }
    }
  });
});

describe('custom resources', () => {
  test('a CRD kind appears with its schema, ObjectMeta metadata and a PATCH without strategic merge', () => {
    const d = docs([...builtinResources(), cronTab]);
    const doc = v3(d, 'apis/stable.example.com/v1');
    const schema = doc.components.schemas['com.example.stable.v1.CronTab'];
    assert.deepEqual(schema['x-kubernetes-group-version-kind'], [{ group: 'stable.example.com', kind: 'CronTab', version: 'v1' }]);
    assert.deepEqual(schema.properties.metadata, { $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta' });
    assert.deepEqual(schema.properties.apiVersion, { type: 'string' });
    assert.equal(schema.properties.spec.properties.cronSpec.type, 'string');
    assert.equal(schema.properties.spec.properties.note.nullable, true);
    assert.ok(doc.components.schemas['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta']);
    assert.deepEqual(doc.components.schemas['com.example.stable.v1.CronTabList'].properties.items.items, {
      $ref: '#/components/schemas/com.example.stable.v1.CronTab',
    });

    const item = doc.paths['/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}'];
    assert.equal(item.patch.operationId, 'patchStableExampleComV1NamespacedCronTab');
    assert.deepEqual(Object.keys(item.patch.requestBody.content).sort(), [
      'application/apply-patch+yaml',
      'application/json-patch+json',
      'application/merge-patch+json',
    ]);
    assert.ok(doc.paths['/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/status'].patch);
    const scale = doc.paths['/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/scale'].get;
    assert.deepEqual(scale.responses['200'].content['application/json'].schema, { $ref: '#/components/schemas/io.k8s.api.autoscaling.v1.Scale' });
    assert.ok(JSON.parse(d.v3Index()).paths['apis/stable.example.com/v1']);
  });

  test('the v2 document downgrades the CRD schema as upstream does', () => {
    const doc = JSON.parse(docs([...builtinResources(), cronTab]).v2());
    const spec = doc.definitions['com.example.stable.v1.CronTab'].properties.spec;
    assert.deepEqual(spec.required, ['cronSpec']); // nullable fields are not required in v2
    assert.deepEqual(spec.properties.note, {}); // nullable drops the type
    assert.equal(spec.properties.extra.properties, undefined); // preserve-unknown-fields drops nested fields
    const patch = doc.paths['/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}'].patch;
    assert.ok(!patch.consumes.includes('application/strategic-merge-patch+json'));
    assert.deepEqual(patch['x-kubernetes-group-version-kind'], { group: 'stable.example.com', kind: 'CronTab', version: 'v1' });
  });
});

describe('caching and hashes', () => {
  test('output is byte-stable and hashes change only for the documents whose resources change', () => {
    const a = docs();
    const b = docs();
    assert.equal(a.v2(), b.v2());
    assert.equal(a.v3Index(), b.v3Index());
    const coreHash = a.v3Hash('api/v1');
    const apisHash = a.v3Hash('apis');
    const indexBefore = a.v3Index();
    const v2Before = a.v2();

    a.setResources([...builtinResources(), cronTab]);
    assert.equal(a.v3Hash('api/v1'), coreHash);
    assert.equal(a.v3Hash('apis'), apisHash);
    assert.ok(a.v3('apis/stable.example.com')?.includes('"/apis/stable.example.com/"'));
    assert.notEqual(a.v3Index(), indexBefore);
    assert.notEqual(a.v2(), v2Before);
    const crHash = a.v3Hash('apis/stable.example.com/v1');
    assert.ok(crHash);

    a.setResources([...builtinResources(), { ...cronTab, verbs: cronTab.verbs.filter((v) => v !== 'deletecollection') }]);
    assert.notEqual(a.v3Hash('apis/stable.example.com/v1'), crHash);

    a.setResources(builtinResources());
    assert.equal(a.v3('apis/stable.example.com/v1'), undefined);
    assert.equal(a.v3Index(), indexBefore);
  });
});

describe('references', () => {
  test('no document references a definition it does not carry', () => {
    const d = docs([...builtinResources(), cronTab]);
    const v2 = JSON.parse(d.v2());
    for (const ref of refsIn(v2)) {
      assert.match(ref, /^#\/definitions\//);
      assert.ok(v2.definitions[ref.slice('#/definitions/'.length)], `v2 dangling ${ref}`);
    }
    const index = JSON.parse(d.v3Index());
    for (const prefix of Object.keys(index.paths)) {
      const doc = v3(d, prefix);
      for (const ref of refsIn(doc)) {
        assert.match(ref, /^#\/components\/schemas\//, `${prefix}: ${ref}`);
        assert.ok(doc.components.schemas[ref.slice('#/components/schemas/'.length)], `${prefix} dangling ${ref}`);
      }
    }
  });

  test('every operation names a GVK whose kind is described in the same document (kubectl explain looks it up)', () => {
    const d = docs([...builtinResources(), cronTab]);
    for (const prefix of ['api/v1', 'apis/apps/v1', 'apis/stable.example.com/v1']) {
      const doc = v3(d, prefix);
      const described = new Set<string>();
      for (const s of Object.values<Json>(doc.components.schemas)) {
        for (const g of s['x-kubernetes-group-version-kind'] ?? []) described.add(`${g.group}/${g.version}/${g.kind}`);
      }
      for (const item of Object.values<Json>(doc.paths)) {
        for (const m of METHODS) {
          const g = item[m]?.['x-kubernetes-group-version-kind'];
          if (!g || item[m]['x-kubernetes-action'] === 'connect') continue;
          assert.ok(described.has(`${g.group}/${g.version}/${g.kind}`), `${prefix}: ${item[m].operationId}`);
        }
      }
    }
  });
});

describe('openApiResponse', () => {
  const d = docs();

  test('serves a group document immutably at its current hash and redirects a stale one', () => {
    const hash = d.v3Hash('apis/apps/v1')!;
    const ok = openApiResponse(d, { path: '/openapi/v3/apis/apps/v1', hash, accept: 'application/json' }, new Date('2025-01-01T00:00:00Z'))!;
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['Cache-Control'], 'public, immutable');
    assert.equal(ok.headers.Expires, 'Thu, 01 Jan 2026 00:00:00 GMT');
    assert.equal(ok.headers.Etag, `"${hash}"`);
    assert.equal(ok.body, d.v3('apis/apps/v1'));

    const stale = openApiResponse(d, { path: '/openapi/v3/apis/apps/v1', hash: 'ABC' })!;
    assert.equal(stale.status, 301);
    assert.equal(stale.headers.Location, `/openapi/v3/apis/apps/v1?hash=${hash}`);

    const notModified = openApiResponse(d, { path: '/openapi/v3/apis/apps/v1', ifNoneMatch: `"${hash}"` })!;
    assert.equal(notModified.status, 304);
    assert.equal(notModified.body, '');
  });

  test('answers v2 in protobuf as kubectl asks, v3 protobuf-only requests with 406, unknown group-versions with 404', () => {
    const pb = openApiResponse(d, { path: '/openapi/v2', accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' })!;
    assert.equal(pb.status, 200);
    assert.equal(pb.headers['Content-Type'], 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
    assert.ok(Buffer.isBuffer(pb.body) && pb.body.length > 0);
    const v3pb = openApiResponse(d, { path: '/openapi/v3/apis/apps/v1', accept: 'application/com.github.proto-openapi.spec.v3@v1.0+protobuf' })!;
    assert.equal(v3pb.status, 406);
    const json = openApiResponse(d, { path: '/openapi/v2', accept: 'application/json, */*' })!;
    assert.equal(json.status, 200);
    assert.equal(json.headers['Content-Type'], 'application/json');
    assert.equal(openApiResponse(d, { path: '/openapi/v3/apis/nope/v1' })!.status, 404);
    assert.equal(openApiResponse(d, { path: '/api/v1' }), undefined);
    assert.equal(openApiResponse(d, { path: '/openapi/v3' })!.body, d.v3Index());
  });
});
