import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fieldErrorMessage } from '../../api/errors.js';
import { cronTabCRD, pyTorchJobCRD } from './testdata.js';
import type { CRD } from './types.js';
import { defaultCRD, validateCRD } from './validation.js';

const msgs = (crd: CRD, old?: CRD) => validateCRD(defaultCRD(crd), old ? defaultCRD(old) : undefined).map(fieldErrorMessage);

describe('defaultCRD', () => {
  it('fills singular, listKind, conversion and storedVersions as apiextensions/v1 defaults', () => {
    const crd = cronTabCRD();
    delete crd.spec!.names!.singular;
    const out = defaultCRD(crd);
    assert.equal(out.spec!.names!.singular, 'crontab');
    assert.equal(out.spec!.names!.listKind, 'CronTabList');
    assert.deepEqual(out.spec!.conversion, { strategy: 'None' });
    assert.deepEqual(out.status!.storedVersions, ['v1']);
  });

  it('keeps given names and defaults a conversion webhook service port to 443', () => {
    const crd = pyTorchJobCRD();
    crd.spec!.conversion = { strategy: 'Webhook', webhook: { clientConfig: { service: { namespace: 'kubeflow', name: 'conv' } }, conversionReviewVersions: ['v1'] } };
    defaultCRD(crd);
    assert.equal(crd.spec!.names!.listKind, 'PyTorchJobList');
    assert.equal(crd.spec!.conversion!.webhook!.clientConfig!.service!.port, 443);
  });
});

describe('validateCRD', () => {
  it('accepts the CronTab and PyTorchJob CRDs', () => {
    assert.deepEqual(msgs(cronTabCRD()), []);
    assert.deepEqual(msgs(pyTorchJobCRD()), []);
  });

  it('requires metadata.name to be <plural>.<group>', () => {
    const crd = cronTabCRD();
    crd.metadata!.name = 'crontab.stable.example.com';
    assert.deepEqual(msgs(crd), ['metadata.name: Invalid value: "crontab.stable.example.com": must be spec.names.plural+"."+spec.group']);
  });

  it('requires a group with a dot and a known scope', () => {
    const crd = cronTabCRD();
    crd.spec!.group = 'example';
    crd.metadata!.name = 'crontabs.example';
    crd.spec!.scope = 'Global';
    assert.deepEqual(msgs(crd), [
      'spec.group: Invalid value: "example": should be a domain with at least one dot',
      'spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"',
    ]);
  });

  it('checks names: DNS-1035 plural, mixed-case kind, kind != listKind', () => {
    const crd = cronTabCRD();
    crd.spec!.names!.plural = 'Cron_Tabs';
    crd.metadata!.name = 'Cron_Tabs.stable.example.com';
    crd.spec!.names!.listKind = 'CronTab';
    const out = msgs(crd);
    assert.ok(out.includes(`spec.names.plural: Invalid value: "Cron_Tabs": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`), out.join('\n'));
    assert.ok(out.includes('spec.names.listKind: Invalid value: "CronTab": kind and listKind may not be the same'));
  });

  it('requires exactly one storage version and unique names', () => {
    const crd = cronTabCRD();
    const v = crd.spec!.versions![0]!;
    crd.spec!.versions = [v, { ...v, storage: true }];
    const out = msgs(crd);
    assert.ok(out.some((m) => m.startsWith('spec.versions: Invalid value: ') && m.endsWith(': must contain unique version names')));
    assert.ok(out.some((m) => m.endsWith(': must have exactly one version marked as storage version')));
  });

  it('reports no storage version both in spec and status', () => {
    const crd = cronTabCRD();
    crd.spec!.versions![0]!.storage = false;
    const out = msgs(crd);
    assert.ok(out.some((m) => m.endsWith('must have exactly one version marked as storage version')));
    assert.ok(out.includes('status.storedVersions: Invalid value: []string{}: must have at least one stored version'));
  });

  it('requires a schema on every version', () => {
    const crd = cronTabCRD();
    delete crd.spec!.versions![0]!.schema;
    assert.deepEqual(msgs(crd), ['spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required']);
  });

  it('reports structural errors under spec.validation when all versions share the schema, as upstream', () => {
    const crd = cronTabCRD();
    delete crd.spec!.versions![0]!.schema!.openAPIV3Schema!.properties!.spec!.type;
    assert.deepEqual(msgs(crd), [
      'spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields',
    ]);
  });

  it('reports structural errors under spec.versions[i] when versions differ', () => {
    const crd = cronTabCRD();
    const v1 = crd.spec!.versions![0]!;
    const v2 = JSON.parse(JSON.stringify(v1));
    v2.name = 'v2';
    v2.storage = false;
    delete v2.schema.openAPIV3Schema.properties.spec.type;
    crd.spec!.versions!.push(v2);
    assert.deepEqual(msgs(crd), [
      'spec.versions[1].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields',
    ]);
  });

  it('rejects non-structural constructs with upstream messages (sorted)', () => {
    const crd = cronTabCRD();
    crd.spec!.versions![0]!.subresources = undefined;
    crd.spec!.versions![0]!.schema = {
      openAPIV3Schema: {
        type: 'object',
        properties: {
          spec: {
            type: 'object',
            properties: { a: { type: 'string' } },
            anyOf: [{ type: 'string' }, { properties: { b: { type: 'string' } } }],
          },
          list: { type: 'array' },
          weird: { type: 'object', properties: { x: { type: 'string' } }, additionalProperties: { type: 'string' } },
        },
      },
    };
    const p = 'spec.validation.openAPIV3Schema';
    assert.deepEqual(msgs(crd), [
      `${p}.properties[list].items: Required value: must be specified`,
      `${p}.properties[spec].anyOf[0].type: Forbidden: must be empty to be structural`,
      `${p}.properties[spec].anyOf[1].properties[b].type: Forbidden: must be empty to be structural`,
      `${p}.properties[weird].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive`,
    ]);
  });

  it('checks embedded resources, int-or-string and metadata restrictions', () => {
    const crd = cronTabCRD();
    crd.spec!.versions![0]!.subresources = undefined;
    crd.spec!.versions![0]!.schema = {
      openAPIV3Schema: {
        type: 'object',
        properties: {
          metadata: { type: 'object', properties: { labels: { type: 'object' } } },
          template: { type: 'object', 'x-kubernetes-embedded-resource': true },
          port: { 'x-kubernetes-int-or-string': true, 'x-kubernetes-preserve-unknown-fields': true },
        },
      },
    };
    const p = 'spec.validation.openAPIV3Schema';
    assert.deepEqual(msgs(crd), [
      `${p}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified`,
      `${p}.properties[port].x-kubernetes-preserve-unknown-fields: Invalid value: true: must be false if x-kubernetes-int-or-string is true`,
      `${p}.properties[template].properties: Required value: must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields`,
    ]);
  });

  it('checks list-type / map-keys consistency', () => {
    const crd = cronTabCRD();
    crd.spec!.versions![0]!.subresources = undefined;
    crd.spec!.versions![0]!.schema = {
      openAPIV3Schema: {
        type: 'object',
        properties: {
          ports: {
            type: 'array',
            'x-kubernetes-list-type': 'map',
            'x-kubernetes-list-map-keys': ['name', 'missing'],
            items: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
          },
          keys: { type: 'array', 'x-kubernetes-list-map-keys': ['a'], items: { type: 'string' } },
          tags: { type: 'object', 'x-kubernetes-list-type': 'set' },
        },
      },
    };
    const p = 'spec.validation.openAPIV3Schema';
    assert.deepEqual(msgs(crd), [
      `${p}.properties[ports].x-kubernetes-list-map-keys: Invalid value: []string{"name", "missing"}: entries must all be names of item properties`,
      `${p}.properties[keys].x-kubernetes-list-type: Required value: must be map if x-kubernetes-list-map-keys is non-empty`,
      `${p}.properties[tags].type: Invalid value: "object": must be array if x-kubernetes-list-type is specified`,
    ]);
  });

  it('validates defaults against their schema and forbids unknown fields in them', () => {
    const crd = cronTabCRD();
    const spec = crd.spec!.versions![0]!.schema!.openAPIV3Schema!.properties!.spec!;
    spec.properties!.replicas!.default = 'three';
    spec.properties!.image!.default = undefined;
    spec.properties!.resources = { type: 'object', properties: { cpu: { type: 'string' } }, default: { cpu: '1', gpu: 2 } };
    const p = 'spec.validation.openAPIV3Schema.properties[spec]';
    assert.deepEqual(msgs(crd), [
      `${p}.properties[replicas].default: Invalid value: "string":  in body must be of type integer: "string"`,
      `${p}.properties[resources].default: Invalid value: {"cpu":"1","gpu":2}: must not have unknown fields`,
    ]);
  });

  it('forbids defaults in top-level metadata', () => {
    const crd = cronTabCRD();
    crd.spec!.versions![0]!.schema!.openAPIV3Schema!.properties!.metadata = { type: 'object', properties: { name: { type: 'string', default: 'x' } } };
    assert.deepEqual(msgs(crd), [
      'spec.validation.openAPIV3Schema.properties[metadata].properties[name].default: Forbidden: must not be set in top-level metadata',
    ]);
  });

  it('checks subresource paths and printer columns', () => {
    const crd = cronTabCRD();
    const v = crd.spec!.versions![0]!;
    v.subresources = { status: {}, scale: { specReplicasPath: 'spec.replicas', statusReplicasPath: '.spec.replicas' } };
    v.additionalPrinterColumns = [{ name: 'X', type: 'float', jsonPath: 'spec.x' }, { name: 'Y', type: 'string', format: 'weird' }];
    assert.deepEqual(msgs(crd), [
      'spec.subresources.scale.specReplicasPath: Invalid value: "spec.replicas": must be a simple json path starting with .',
      'spec.subresources.scale.statusReplicasPath: Invalid value: ".spec.replicas": should be a json path under .status',
      'spec.additionalPrinterColumns[0].type: Invalid value: "float": must be one of boolean,date,integer,number,string',
      'spec.additionalPrinterColumns[0].JSONPath: Invalid value: "spec.x": must be a simple json path starting with .',
      'spec.additionalPrinterColumns[1].format: Invalid value: "weird": must be one of byte,date,date-time,double,float,int32,int64,password',
      'spec.additionalPrinterColumns[1].JSONPath: Required value',
    ]);
  });

  it('checks selectable fields', () => {
    const crd = cronTabCRD();
    crd.spec!.versions![0]!.selectableFields = [{ jsonPath: '.spec.color' }, { jsonPath: '.spec.tags' }, { jsonPath: '.spec.nope' }, { jsonPath: '.spec.color' }];
    assert.deepEqual(msgs(crd), [
      'spec.selectableFields[1].jsonPath: Invalid value: ".spec.tags": must point to a field of type string, boolean or integer. Enum string fields and strings with formats are allowed.',
      'spec.selectableFields[2].jsonPath: Invalid value: ".spec.nope": is an invalid path: does not refer to a valid field',
      'spec.selectableFields[3].jsonPath: Duplicate value: ".spec.color"',
    ]);
  });

  it('requires root type object with the status subresource', () => {
    const crd = cronTabCRD();
    crd.spec!.versions![0]!.schema!.openAPIV3Schema!.nullable = true;
    assert.deepEqual(msgs(crd), [
      `spec.validation.openAPIV3Schema: Invalid value: ${JSON.stringify({ ...crd.spec!.versions![0]!.schema!.openAPIV3Schema })}: only [Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations] fields are allowed at the root of the schema if the status subresource is enabled`,
      'spec.validation.openAPIV3Schema.nullable: Forbidden: nullable cannot be true at the root',
    ]);
  });

  it('requires the approval annotation for *.k8s.io groups', () => {
    const crd = cronTabCRD();
    crd.spec!.group = 'example.k8s.io';
    crd.metadata!.name = 'crontabs.example.k8s.io';
    assert.deepEqual(msgs(crd), [
      'metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation "api-approved.kubernetes.io", see https://github.com/kubernetes/enhancements/pull/1111',
    ]);
    crd.metadata!.annotations = { 'api-approved.kubernetes.io': 'unapproved, testing' };
    assert.deepEqual(msgs(crd), []);
  });

  it('on update keeps group and plural immutable, and scope/kind once Established', () => {
    const old = cronTabCRD();
    const next = cronTabCRD();
    next.spec!.scope = 'Cluster';
    assert.deepEqual(msgs(next, old), []);
    old.status = { storedVersions: ['v1'], conditions: [{ type: 'Established', status: 'True' }] };
    assert.deepEqual(msgs(next, old), ['spec.scope: Invalid value: "Cluster": field is immutable']);
    const renamed = cronTabCRD();
    renamed.spec!.group = 'other.example.com';
    const out = msgs(renamed, old);
    assert.ok(out.includes('spec.group: Invalid value: "other.example.com": field is immutable'));
  });

  it('validates webhook conversion settings', () => {
    const crd = cronTabCRD();
    crd.spec!.conversion = { strategy: 'Webhook', webhook: { clientConfig: { url: 'http://conv.example.com/convert?x=1' }, conversionReviewVersions: ['v2'] } };
    assert.deepEqual(msgs(crd), [
      "spec.conversion.webhook.clientConfig.url: Invalid value: \"http\": 'https' is the only allowed URL scheme; desired format: https://host[/path]",
      'spec.conversion.webhook.clientConfig.url: Invalid value: "x=1": query parameters are not permitted in the URL',
      'spec.conversion.webhook.conversionReviewVersions: Invalid value: []string{"v2"}: must include at least one of v1, v1beta1',
    ]);
  });
});
