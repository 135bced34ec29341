import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crdPrinter } from './printer.js';
import { cronTabCRD, pyTorchJobCRD } from './testdata.js';

const now = new Date('2024-01-01T01:00:00Z');

describe('crdPrinter', () => {
  it('prints Name then the declared columns with their types', () => {
    const p = crdPrinter(cronTabCRD().spec!.versions![0]!);
    assert.deepEqual(
      p.columns.map((c) => [c.name, c.type, c.format, c.priority]),
      [
        ['Name', 'string', 'name', 0],
        ['Spec', 'string', '', 0],
        ['Replicas', 'integer', '', 0],
        ['Age', 'date', '', 0],
      ],
    );
    assert.equal(p.columns[1]!.description, 'The cron spec defining the interval a CronJob is run');
    assert.equal(p.columns[3]!.description, 'Custom resource definition column (in JSONPath format): .metadata.creationTimestamp');
    const obj = { metadata: { name: 'my-new-cron-object', creationTimestamp: '2024-01-01T00:55:30Z' }, spec: { cronSpec: '* * * * */5', replicas: 3 } };
    assert.deepEqual(p.row(obj, now), ['my-new-cron-object', '* * * * */5', 3, '4m30s']);
  });

  it('uses null for missing or mistyped values, <invalid> for bad dates, and text for non-string values in string columns', () => {
    const p = crdPrinter({
      additionalPrinterColumns: [
        { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
        { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
        { name: 'Started', type: 'date', jsonPath: '.status.startTime' },
        { name: 'Size', type: 'string', jsonPath: '.spec.size' },
        { name: 'Suspended', type: 'boolean', jsonPath: '.spec.suspend' },
      ],
    });
    const row = p.row({ metadata: { name: 'x' }, spec: { replicas: 'three', size: { gpu: 2 }, suspend: true }, status: { startTime: 'soon' } }, now);
    assert.deepEqual(row, ['x', null, null, '<invalid>', '{"gpu":2}', true]);
    const ready = p.row({ metadata: { name: 'y' }, status: { conditions: [{ type: 'Ready', status: 'True' }] }, spec: { replicas: 2.9 } }, now);
    assert.deepEqual(ready, ['y', 2, 'True', null, null, null]);
  });

  it('defaults to Name and Age when no columns are declared', () => {
    const v = pyTorchJobCRD().spec!.versions![0]!;
    delete v.additionalPrinterColumns;
    const p = crdPrinter(v);
    assert.deepEqual(p.columns.map((c) => c.name), ['Name', 'Age']);
    assert.match(p.columns[1]!.description, /^CreationTimestamp is a timestamp/);
    assert.deepEqual(p.row({ metadata: { name: 'mnist', creationTimestamp: '2023-12-29T01:00:00Z' } }, now), ['mnist', '3d']);
    assert.deepEqual(p.row({ metadata: { name: 'fresh' } }, now), ['fresh', null]);
  });

  it('renders the last condition of a PyTorchJob as its state', () => {
    const p = crdPrinter(pyTorchJobCRD().spec!.versions![0]!);
    const job = { metadata: { name: 'mnist', creationTimestamp: '2024-01-01T00:00:00Z' }, status: { conditions: [{ type: 'Created' }, { type: 'Running' }] } };
    assert.deepEqual(p.row(job, now), ['mnist', 'Running', '60m']);
  });

  it('rejects an unparsable column path as upstream does', () => {
    assert.throws(() => crdPrinter({ additionalPrinterColumns: [{ name: 'X', type: 'string', jsonPath: '.spec[' }] }), /unrecognized column definition "\.spec\["/);
  });
});
