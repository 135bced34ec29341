import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkScikitLearn, demoDir, loadDemoManifests, metricFrom } from './demo.js';

test('the shipped example has the scripts, the claim, the train Job and the predict Job, wired to each other', () => {
  const { setup, train, predict } = loadDemoManifests(demoDir());
  const scripts = setup.find((o) => o.kind === 'ConfigMap');
  const claim = setup.find((o) => o.kind === 'PersistentVolumeClaim');
  assert.ok(scripts.data['train.py'].includes('load_digits') && scripts.data['predict.py'].includes('accuracy: '));
  assert.equal(claim.spec.storageClassName, undefined, 'the claim uses the default StorageClass');
  for (const [job, script] of [[train, 'train.py'], [predict, 'predict.py']]) {
    const pod = job.spec.template.spec;
    assert.deepEqual(pod.containers[0].command, ['/usr/bin/python3', `/scripts/${script}`]);
    assert.equal(pod.restartPolicy, 'Never');
    const mounts = Object.fromEntries(pod.containers[0].volumeMounts.map((m: any) => [m.name, m.mountPath]));
    assert.deepEqual(mounts, { scripts: '/scripts', models: '/models' });
    const volumes = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
    assert.equal(volumes.scripts.configMap.name, scripts.metadata.name);
    assert.equal(volumes.models.persistentVolumeClaim.claimName, claim.metadata.name);
  }
});

test('metrics are read from the last "<name>: <number>" line of a log', () => {
  const log = 'loading\naccuracy: 0.5\npredicted 450 held-out digits: 435 correct\naccuracy: 0.967\n';
  assert.equal(metricFrom(log, 'accuracy'), 0.967);
  assert.equal(metricFrom('train accuracy: 1.000\n', 'train accuracy'), 1);
  // "train accuracy" is not "accuracy", and a line must hold only the number.
  assert.equal(metricFrom('train accuracy: 1.000\n', 'accuracy'), undefined);
  assert.equal(metricFrom('accuracy: high\n', 'accuracy'), undefined);
});

test('a host without python3 or without scikit-learn gets told how to install it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kite-demo-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.match(checkScikitLearn(join(dir, 'python3'))!, /does not exist: install it with "apt-get install -y python3-sklearn"/);
  // A python whose `import sklearn` fails the way a bare Debian python3 does.
  const fake = join(dir, 'python3-without-sklearn');
  writeFileSync(fake, `#!/bin/sh\necho "ModuleNotFoundError: No module named 'sklearn'" >&2\nexit 1\n`);
  chmodSync(fake, 0o755);
  const problem = checkScikitLearn(fake)!;
  assert.match(problem, /scikit-learn is not installed for .*python3-without-sklearn \(ModuleNotFoundError: No module named 'sklearn'\)/);
  assert.match(problem, /apt-get install -y python3-sklearn.*npm test/);
});
