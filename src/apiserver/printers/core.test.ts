import { test } from 'node:test';
import assert from 'node:assert/strict';

import { printerFor } from './index.js';

const now = new Date('2024-06-01T12:00:00Z');
const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();
const MIN = 60_000;

function podRow(pod: any): unknown[] {
  return printerFor('', 'Pod').row(pod, now);
}
const meta = (name: string, extra: any = {}) => ({ name, namespace: 'default', creationTimestamp: ago(10 * MIN), ...extra });
const running = (name: string, ready: boolean, extra: any = {}) => ({ name, ready, restartCount: 0, state: { running: { startedAt: ago(5 * MIN) } }, ...extra });

test('pod columns are upstream names with IP/Node/Nominated Node/Readiness Gates wide-only', () => {
  const cols = printerFor('', 'Pod').columns;
  assert.deepEqual(
    cols.map((c) => [c.name, c.priority]),
    [['Name', 0], ['Ready', 0], ['Status', 0], ['Restarts', 0], ['Age', 0], ['IP', 1], ['Node', 1], ['Nominated Node', 1], ['Readiness Gates', 1]],
  );
  assert.equal(cols[0].format, 'name');
});

test('a running pod with two containers, one ready, prints 1/2 Running plus IP and node', () => {
  const pod = {
    metadata: meta('web-1'),
    spec: { nodeName: 'node-1', containers: [{ name: 'a' }, { name: 'b' }] },
    status: { phase: 'Running', podIP: '10.244.0.5', podIPs: [{ ip: '10.244.0.5' }], containerStatuses: [running('a', true), running('b', false)] },
  };
  assert.deepEqual(podRow(pod), ['web-1', '1/2', 'Running', '0', '10m', '10.244.0.5', 'node-1', '<none>', '<none>']);
});

test('a freshly created pod prints Pending with placeholders', () => {
  const pod = { metadata: meta('fresh'), spec: { containers: [{ name: 'c', image: 'busybox' }] }, status: { phase: 'Pending' } };
  assert.deepEqual(podRow(pod), ['fresh', '0/1', 'Pending', '0', '10m', '<none>', '<none>', '<none>', '<none>']);
});

test('a terminated container with reason Completed shows Completed', () => {
  const pod = {
    metadata: meta('job-x'),
    spec: { containers: [{ name: 'c' }] },
    status: { phase: 'Succeeded', containerStatuses: [{ name: 'c', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }] },
  };
  assert.deepEqual(podRow(pod).slice(1, 4), ['0/1', 'Completed', '0']);
});

test('terminated without a reason shows ExitCode or Signal', () => {
  const term = (t: any) => ({
    metadata: meta('p'),
    spec: { containers: [{ name: 'c' }] },
    status: { phase: 'Failed', containerStatuses: [{ name: 'c', ready: false, restartCount: 0, state: { terminated: t } }] },
  });
  assert.equal(podRow(term({ exitCode: 2 }))[2], 'ExitCode:2');
  assert.equal(podRow(term({ exitCode: 137, signal: 9 }))[2], 'Signal:9');
});

test('CrashLoopBackOff with restarts shows the last restart age', () => {
  const pod = {
    metadata: meta('crash'),
    spec: { containers: [{ name: 'c' }] },
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'c',
          ready: false,
          restartCount: 2,
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 20s' } },
          lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: ago(5 * MIN) } },
        },
      ],
    },
  };
  assert.deepEqual(podRow(pod).slice(1, 4), ['0/1', 'CrashLoopBackOff', '2 (5m ago)']);
});

test('the first container decides STATUS because statuses are walked backwards', () => {
  const pod = {
    metadata: meta('p'),
    spec: { containers: [{ name: 'a' }, { name: 'b' }] },
    status: {
      phase: 'Pending',
      containerStatuses: [
        { name: 'a', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff' } } },
        { name: 'b', ready: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } },
      ],
    },
  };
  assert.equal(podRow(pod)[2], 'ImagePullBackOff');
});

test('a deleting pod shows Terminating unless its phase is terminal, and Unknown when its node is lost', () => {
  const base = { spec: { containers: [{ name: 'c' }] }, status: { phase: 'Running', containerStatuses: [running('c', true)] } };
  assert.equal(podRow({ ...base, metadata: meta('p', { deletionTimestamp: ago(MIN) }) })[2], 'Terminating');
  const lost = { ...base, metadata: meta('p', { deletionTimestamp: ago(MIN) }), status: { ...base.status, reason: 'NodeLost' } };
  assert.equal(podRow(lost)[2], 'Unknown');
  const done = {
    metadata: meta('p', { deletionTimestamp: ago(MIN) }),
    spec: base.spec,
    status: { phase: 'Succeeded', containerStatuses: [{ name: 'c', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }] },
  };
  assert.equal(podRow(done)[2], 'Completed');
});

test('init containers: running shows Init:0/1, failures show Init:<reason>', () => {
  const withInit = (initStatus: any, extraStatus: any = {}) => ({
    metadata: meta('p'),
    spec: { initContainers: [{ name: 'init' }], containers: [{ name: 'c' }] },
    status: {
      phase: 'Pending',
      initContainerStatuses: [{ name: 'init', ready: false, restartCount: 0, ...initStatus }],
      containerStatuses: [{ name: 'c', ready: false, restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } }],
      ...extraStatus,
    },
  });
  assert.deepEqual(podRow(withInit({ state: { running: {} } })).slice(1, 4), ['0/1', 'Init:0/1', '0']);
  assert.equal(podRow(withInit({ state: { waiting: { reason: 'ImagePullBackOff' } } }))[2], 'Init:ImagePullBackOff');
  assert.equal(podRow(withInit({ state: { waiting: { reason: 'PodInitializing' } } }))[2], 'Init:0/1');
  assert.equal(podRow(withInit({ state: { terminated: { exitCode: 3 } } }))[2], 'Init:ExitCode:3');
  assert.equal(podRow(withInit({ state: { terminated: { exitCode: 1, reason: 'Error' } } }))[2], 'Init:Error');
  // init restarts count while initializing
  const crashing = withInit({
    restartCount: 4,
    state: { waiting: { reason: 'CrashLoopBackOff' } },
    lastState: { terminated: { exitCode: 1, finishedAt: ago(20_000) } },
  });
  assert.deepEqual(podRow(crashing).slice(2, 4), ['Init:CrashLoopBackOff', '4 (20s ago)']);
  // once the init container succeeded, the app containers decide
  assert.equal(podRow(withInit({ state: { terminated: { exitCode: 0, reason: 'Completed' } } }))[2], 'PodInitializing');
});

test('a started, ready sidecar counts towards READY', () => {
  const pod = {
    metadata: meta('p'),
    spec: { initContainers: [{ name: 'proxy', restartPolicy: 'Always' }], containers: [{ name: 'app' }] },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Initialized', status: 'True' }, { type: 'Ready', status: 'True' }],
      initContainerStatuses: [{ name: 'proxy', ready: true, started: true, restartCount: 1, state: { running: {} }, lastState: { terminated: { exitCode: 1, finishedAt: ago(3 * MIN) } } }],
      containerStatuses: [running('app', true)],
    },
  };
  assert.deepEqual(podRow(pod).slice(1, 4), ['2/2', 'Running', '1 (3m ago)']);
});

test('Completed with another container still running reads Running or NotReady', () => {
  const pod = (conditions: any[]) => ({
    metadata: meta('p'),
    spec: { containers: [{ name: 'a' }, { name: 'b' }] },
    status: {
      phase: 'Running',
      conditions,
      containerStatuses: [running('a', true), { name: 'b', ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } }],
    },
  });
  assert.equal(podRow(pod([{ type: 'Ready', status: 'True' }]))[2], 'Running');
  assert.equal(podRow(pod([]))[2], 'NotReady');
});

test('scheduling gates, status reason and readiness gates', () => {
  const gated = { metadata: meta('p'), spec: { containers: [{ name: 'c' }] }, status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'SchedulingGated' }] } };
  assert.equal(podRow(gated)[2], 'SchedulingGated');
  const evicted = { metadata: meta('p'), spec: { containers: [{ name: 'c' }] }, status: { phase: 'Failed', reason: 'Evicted' } };
  assert.equal(podRow(evicted)[2], 'Evicted');
  const gates = {
    metadata: meta('p'),
    spec: { containers: [{ name: 'c' }], readinessGates: [{ conditionType: 'x/a' }, { conditionType: 'x/b' }] },
    status: { phase: 'Running', nominatedNodeName: 'n2', conditions: [{ type: 'x/a', status: 'True' }, { type: 'x/b', status: 'False' }] },
  };
  assert.deepEqual(podRow(gates).slice(7), ['n2', '1/2']);
});

test('service: ports, cluster IP, external IP and selector', () => {
  const svc = (spec: any, status: any = {}) =>
    printerFor('', 'Service').row({ metadata: meta('web'), spec: { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ...spec }, status }, now);
  assert.deepEqual(
    svc({ type: 'NodePort', selector: { app: 'web', tier: 'fe' }, ports: [{ port: 80, protocol: 'TCP' }, { port: 443, nodePort: 30001, protocol: 'TCP' }] }),
    ['web', 'NodePort', '10.96.0.10', '<none>', '80/TCP,443:30001/TCP', '10m', 'app=web,tier=fe'],
  );
  assert.deepEqual(svc({ type: 'ClusterIP', ports: [{ port: 53, protocol: 'UDP' }] }).slice(3, 5), ['<none>', '53/UDP']);
  assert.equal(svc({ type: 'ClusterIP', externalIPs: ['1.2.3.4', '5.6.7.8'] })[3], '1.2.3.4,5.6.7.8');
  assert.deepEqual(svc({ type: 'ClusterIP', clusterIP: 'None', clusterIPs: ['None'] }).slice(2, 5), ['None', '<none>', '<none>']);
  assert.equal(svc({ type: 'LoadBalancer' })[3], '<pending>');
  assert.equal(svc({ type: 'LoadBalancer' }, { loadBalancer: { ingress: [{ ip: '9.9.9.9' }, { hostname: 'lb.example.com' }, { ip: '1.1.1.1' }] } })[3], '1.1.1.1,9.9.9.9,lb.example.com');
  assert.equal(svc({ type: 'LoadBalancer', externalIPs: ['5.5.5.5'] }, { loadBalancer: { ingress: [{ ip: '9.9.9.9' }] } })[3], '9.9.9.9,5.5.5.5');
  assert.equal(svc({ type: 'ExternalName', externalName: 'db.example.com', clusterIPs: undefined, clusterIP: undefined })[2], '<none>');
  assert.equal(svc({ type: 'ExternalName', externalName: 'db.example.com' })[3], 'db.example.com');
  assert.equal(svc({ type: 'ClusterIP' })[6], '<none>');
});

test('endpoints list at most three ip:port entries', () => {
  const ep = (subsets: any) => printerFor('', 'Endpoints').row({ metadata: meta('web'), subsets }, now)[1];
  assert.equal(ep(undefined), '<none>');
  assert.equal(ep([{ addresses: [{ ip: '10.0.0.1' }, { ip: 'fd00::1' }], ports: [{ port: 80 }] }]), '10.0.0.1:80,[fd00::1]:80');
  assert.equal(
    ep([{ addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], ports: [{ port: 80 }, { port: 443 }] }]),
    '10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...',
  );
  assert.equal(ep([{ addresses: [{ ip: '10.0.0.1' }] }]), '10.0.0.1');
});

test('node status, roles and wide columns', () => {
  const node = (extra: any) =>
    printerFor('', 'Node').row(
      {
        metadata: meta('n1', { labels: { 'node-role.kubernetes.io/control-plane': '', 'kubernetes.io/role': 'worker', 'node-role.kubernetes.io/': '' } }),
        status: {
          conditions: [{ type: 'MemoryPressure', status: 'False' }, { type: 'Ready', status: 'True' }],
          addresses: [{ type: 'Hostname', address: 'n1' }, { type: 'InternalIP', address: '192.168.1.10' }],
          nodeInfo: { kubeletVersion: 'v1.32.0', osImage: 'Debian GNU/Linux 12', kernelVersion: '6.1.0', containerRuntimeVersion: '' },
        },
        ...extra,
      },
      now,
    );
  assert.deepEqual(node({}), ['n1', 'Ready', 'control-plane,worker', '10m', 'v1.32.0', '192.168.1.10', '<none>', 'Debian GNU/Linux 12', '6.1.0', '<unknown>']);
  const notReady = node({ spec: { unschedulable: true }, status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } });
  assert.deepEqual(notReady.slice(1, 5), ['NotReady,SchedulingDisabled', 'control-plane,worker', '10m', '']);
  const bare = printerFor('', 'Node').row({ metadata: { name: 'n2' } }, now);
  assert.deepEqual(bare.slice(0, 4), ['n2', 'Unknown', '<none>', '<unknown>']);
});

test('secret, configmap, service account, namespace', () => {
  assert.deepEqual(printerFor('', 'Secret').row({ metadata: meta('s'), type: 'Opaque', data: { a: 'eA==', b: 'eQ==' } }, now), ['s', 'Opaque', 2, '10m']);
  assert.deepEqual(printerFor('', 'ConfigMap').row({ metadata: meta('c'), data: { a: '1' }, binaryData: { b: 'AA==' } }, now), ['c', 2, '10m']);
  assert.deepEqual(printerFor('', 'ConfigMap').row({ metadata: meta('empty') }, now), ['empty', 0, '10m']);
  assert.deepEqual(printerFor('', 'ServiceAccount').row({ metadata: meta('default') }, now), ['default', 0, '10m']);
  assert.deepEqual(printerFor('', 'Namespace').row({ metadata: meta('kube-system'), status: { phase: 'Active' } }, now), ['kube-system', 'Active', '10m']);
});

test('core events: last seen, type, reason, object, message and the wide columns', () => {
  const ev = {
    metadata: meta('web-1.17a'),
    involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'default', fieldPath: 'spec.containers{web}' },
    reason: 'BackOff',
    message: 'Back-off restarting failed container\n',
    source: { component: 'kubelet', host: 'node-1' },
    firstTimestamp: ago(30 * MIN),
    lastTimestamp: ago(5 * MIN),
    count: 4,
    type: 'Warning',
  };
  assert.deepEqual(printerFor('', 'Event').row(ev, now), ['5m', 'Warning', 'BackOff', 'pod/web-1', 'spec.containers{web}', 'kubelet, node-1', 'Back-off restarting failed container', '30m', 4, 'web-1.17a']);
  // new-style event: eventTime only, reporting controller, no count
  const newStyle = {
    metadata: meta('x'),
    involvedObject: { kind: 'Node', name: '' },
    reason: 'Starting',
    message: 'ok',
    reportingComponent: 'kube-proxy',
    reportingInstance: 'kube-proxy-n1',
    eventTime: ago(90_000),
    type: 'Normal',
  };
  assert.deepEqual(printerFor('', 'Event').row(newStyle, now), ['90s', 'Normal', 'Starting', 'node', '', 'kube-proxy, kube-proxy-n1', 'ok', '90s', 1, 'x']);
  const series = { ...newStyle, series: { count: 7, lastObservedTime: ago(10_000) } };
  assert.deepEqual(printerFor('', 'Event').row(series, now).slice(0, 1).concat(printerFor('', 'Event').row(series, now)[8]), ['10s', 7]);
});

test('persistent volumes and claims', () => {
  const pv = {
    metadata: meta('pv-1'),
    spec: { capacity: { storage: '10240Mi' }, accessModes: ['ReadWriteMany', 'ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain', storageClassName: 'local', claimRef: { namespace: 'default', name: 'data' }, volumeMode: 'Filesystem' },
    status: { phase: 'Bound' },
  };
  assert.deepEqual(printerFor('', 'PersistentVolume').row(pv, now), ['pv-1', '10Gi', 'RWO,RWX', 'Retain', 'Bound', 'default/data', 'local', '<unset>', '', '10m', 'Filesystem']);
  const pending = { metadata: meta('data'), spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'local' }, status: { phase: 'Pending' } };
  assert.deepEqual(printerFor('', 'PersistentVolumeClaim').row(pending, now), ['data', 'Pending', '', '', '', 'local', '<unset>', '10m', '<unset>']);
  const bound = {
    metadata: meta('data', { deletionTimestamp: ago(MIN), annotations: { 'volume.beta.kubernetes.io/storage-class': 'old' } }),
    spec: { volumeName: 'pv-1', storageClassName: 'local', volumeMode: 'Block' },
    status: { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: '10Gi' } },
  };
  assert.deepEqual(printerFor('', 'PersistentVolumeClaim').row(bound, now), ['data', 'Terminating', 'pv-1', '10Gi', 'RWO', 'old', '<unset>', '10m', 'Block']);
});

test('resource quota splits requests and limits, sorted by resource', () => {
  const rq = {
    metadata: meta('quota'),
    status: { hard: { pods: '10', 'requests.cpu': '1', 'limits.memory': '2Gi', 'requests.memory': '1024Mi' }, used: { pods: '2', 'requests.cpu': '500m', 'requests.memory': '0' } },
  };
  assert.deepEqual(printerFor('', 'ResourceQuota').row(rq, now), ['quota', '10m', 'pods: 2/10, requests.cpu: 500m/1, requests.memory: 0/1Gi', 'limits.memory: 0/2Gi']);
});

test('pod template and replication controller', () => {
  const template = { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'a', image: 'nginx' }, { name: 'b', image: 'envoy' }] } };
  assert.deepEqual(printerFor('', 'PodTemplate').row({ metadata: meta('t'), template }, now), ['t', 'a,b', 'nginx,envoy', 'app=web']);
  const rc = { metadata: meta('rc'), spec: { replicas: 3, selector: { app: 'web' }, template }, status: { replicas: 3, readyReplicas: 1 } };
  assert.deepEqual(printerFor('', 'ReplicationController').row(rc, now), ['rc', 3, 3, 1, '10m', 'a,b', 'nginx,envoy', 'app=web']);
});
