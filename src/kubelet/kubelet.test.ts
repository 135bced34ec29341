import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { MemoryBackend } from '../storage/memory.js';
import { ApiServer } from '../apiserver/server.js';
import { ensurePki, issueCert, type ClusterPki } from '../apiserver/auth/certs.js';
import { InProcessClient } from '../client/inprocess.js';
import { R, type Client } from '../client/client.js';
import { eventually, getOrUndefined } from '../controllers/testenv.js';
import { ProcessRuntime } from './runtime/process.js';
import { leftovers, testRuntimeOptions } from './runtime/testing.js';
import { Kubelet } from './kubelet.js';

const NODE = 'node-1';

let dir: string;
let backend: MemoryBackend;
let api: ApiServer;
let pki: ClusterPki;
let client: Client;
let kubelet: Kubelet;
let runtimeOpts: ReturnType<typeof testRuntimeOptions>;

/** GET on the API server as the admin; resolves with status and body text. */
function apiGet(path: string, onData?: (text: string) => void): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port: api.port, path, ca: pki.ca.cert, cert: pki.admin.cert, key: pki.admin.key }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
        onData?.(body);
      });
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
    });
    r.on('error', reject);
    r.end();
  });
}

function podLog(name: string, query = '', ns = 'default') {
  return apiGet(`/api/v1/namespaces/${ns}/pods/${name}/log${query ? `?${query}` : ''}`);
}

async function createPod(name: string, spec: any, ns = 'default', extraMeta: any = {}): Promise<any> {
  return client.create(R.pods, ns, { apiVersion: 'v1', kind: 'Pod', metadata: { name, ...extraMeta }, spec: { nodeName: NODE, ...spec } });
}

async function pod(name: string, ns = 'default'): Promise<any> {
  return client.get(R.pods, ns, name);
}

async function events(name: string, ns = 'default'): Promise<any[]> {
  return (await client.list(R.events, ns)).items.filter((e: any) => e.involvedObject?.name === name);
}

function cs(p: any, name = 'c'): any {
  return p.status?.containerStatuses?.find((s: any) => s.name === name);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kite-kubelet-'));
  backend = new MemoryBackend();
  await backend.start();
  pki = await ensurePki(join(dir, 'tls'));
  api = new ApiServer({ backend, pki, tokens: new Map(), port: 0, bindAddress: '127.0.0.1', advertiseAddress: '127.0.0.1', serviceCidr: '10.96.0.0/12' });
  await api.start();
  client = new InProcessClient(api.registry, { name: `system:node:${NODE}`, groups: ['system:masters'] }, 'kubelet');
  const serving = await issueCert(pki.ca, { commonName: `system:node:${NODE}`, ips: ['127.0.0.1'], usage: 'server' });
  runtimeOpts = testRuntimeOptions({ dataDir: join(dir, 'runtime'), hostNetworkOnly: true, nodeIp: '127.0.0.1' });
  const runtime = new ProcessRuntime(runtimeOpts);
  kubelet = new Kubelet({
    client,
    nodeName: NODE,
    dataDir: join(dir, 'kubelet'),
    runtime,
    podCidr: '10.244.0.0/24',
    nodeIp: '127.0.0.1',
    log: () => {},
    streamingTls: { cert: serving.cert, key: serving.key, ca: pki.ca.cert },
    port: 0,
    extendedResources: { 'nvidia.com/gpu': '2' },
    intervals: { leaseMs: 100, nodeStatusMs: 100 },
    backoff: { initialMs: 300, maxMs: 1200 },
    retryMs: 100,
  });
  await kubelet.start();
});

after(async () => {
  await kubelet?.stop();
  // Stopping the node agent kills every container it started and leaves nothing on the host.
  assert.deepEqual(leftovers(runtimeOpts), []);
  await api?.stop();
  await backend?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('node registration', () => {
  it('registers the node with the machine capacity, labels, addresses, nodeInfo and a Ready condition', async () => {
    const node = await client.get(R.nodes, '', NODE);
    assert.equal(node.metadata.labels['kubernetes.io/hostname'], NODE);
    assert.equal(node.metadata.labels['kubernetes.io/os'], 'linux');
    assert.match(node.metadata.labels['kubernetes.io/arch'], /^(amd64|arm64)$/);
    assert.equal(node.metadata.labels['beta.kubernetes.io/arch'], node.metadata.labels['kubernetes.io/arch']);
    assert.equal(node.spec.podCIDR, '10.244.0.0/24');
    assert.deepEqual(node.spec.podCIDRs, ['10.244.0.0/24']);
    assert.equal(node.status.capacity.cpu, String(availableParallelism()));
    assert.equal(node.status.capacity.pods, '110');
    assert.equal(node.status.capacity['nvidia.com/gpu'], '2');
    assert.match(node.status.capacity.memory, /^\d+(Ki)?$/);
    assert.match(node.status.capacity['ephemeral-storage'], /^\d+(Ki|Mi|Gi)?$/);
    assert.ok(node.status.allocatable.memory);
    assert.equal(node.status.nodeInfo.kubeletVersion, 'v1.32.0');
    assert.match(node.status.nodeInfo.containerRuntimeVersion, /^kite-process:\/\//);
    assert.equal(node.status.nodeInfo.operatingSystem, 'linux');
    assert.deepEqual(node.status.addresses[0], { type: 'InternalIP', address: '127.0.0.1' });
    assert.equal(node.status.daemonEndpoints.kubeletEndpoint.Port, kubelet.port);
    const ready = node.status.conditions.find((c: any) => c.type === 'Ready');
    assert.equal(ready.status, 'True');
    assert.equal(ready.reason, 'KubeletReady');
    assert.equal(ready.message, 'kubelet is posting ready status');
    for (const t of ['MemoryPressure', 'DiskPressure', 'PIDPressure']) assert.equal(node.status.conditions.find((c: any) => c.type === t).status, 'False');
  });

  it('holds a Lease in kube-node-lease owned by the Node and renews it', async () => {
    const node = await client.get(R.nodes, '', NODE);
    const lease = await client.get(R.leases, 'kube-node-lease', NODE);
    assert.equal(lease.spec.holderIdentity, NODE);
    assert.equal(lease.spec.leaseDurationSeconds, 40);
    assert.deepEqual(lease.metadata.ownerReferences.map((o: any) => [o.kind, o.name, o.uid]), [['Node', NODE, node.metadata.uid]]);
    const first = lease.spec.renewTime;
    await eventually(async () => (await client.get(R.leases, 'kube-node-lease', NODE)).spec.renewTime !== first, 'the lease to be renewed');
  });

  it('marks the node Ready again when someone else set it Unknown', async () => {
    const node = await client.get(R.nodes, '', NODE);
    const conditions = node.status.conditions.map((c: any) => (c.type === 'Ready' ? { ...c, status: 'Unknown', reason: 'NodeStatusUnknown' } : c));
    await client.patch(R.nodes, '', NODE, 'merge', { status: { conditions } }, { subresource: 'status' });
    await eventually(async () => (await client.get(R.nodes, '', NODE)).status.conditions.find((c: any) => c.type === 'Ready').status === 'True', 'Ready again');
  });
});

describe('pods', () => {
  it('runs a container to completion: Failed with exit code 3, reason Error, and its log', async () => {
    await createPod('exit3', { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', command: ['/bin/sh', '-c', 'echo hi; exit 3'] }] });
    const p = await eventually(async () => {
      const x = await pod('exit3');
      return x.status.phase === 'Failed' && x;
    }, 'the pod to fail');
    const t = cs(p).state.terminated;
    assert.equal(t.exitCode, 3);
    assert.equal(t.reason, 'Error');
    assert.match(t.containerID, /^process:\/\//);
    assert.equal(cs(p).restartCount, 0);
    assert.equal(cs(p).ready, false);
    assert.equal(p.status.hostIP, '127.0.0.1');
    assert.equal(p.status.podIP, '127.0.0.1');
    assert.ok(p.status.startTime);
    assert.equal(p.status.qosClass, 'BestEffort');
    const ready = p.status.conditions.find((c: any) => c.type === 'Ready');
    assert.deepEqual([ready.status, ready.reason], ['False', 'PodFailed']);
    assert.deepEqual(await podLog('exit3'), { code: 200, body: 'hi\n' });
    const reasons = (await events('exit3')).map((e) => `${e.reason}: ${e.message}`);
    assert.ok(reasons.includes('Pulled: Container image "busybox" already present on machine'), reasons.join('\n'));
    assert.ok(reasons.includes('Created: Created container c'));
    assert.ok(reasons.includes('Started: Started container c'));
    assert.equal((await events('exit3')).find((e) => e.reason === 'Started').source.host, NODE);
  });

  it('goes Running then Succeeded, with Ready while running', async () => {
    await createPod('ok', { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', command: ['/bin/sh', '-c', 'sleep 0.5; echo done'] }] });
    const running = await eventually(async () => {
      const x = await pod('ok');
      return x.status.phase === 'Running' && x;
    }, 'Running');
    assert.equal(cs(running).ready, true);
    assert.equal(cs(running).started, true);
    assert.ok(cs(running).state.running.startedAt);
    assert.equal(running.status.conditions.find((c: any) => c.type === 'Ready').status, 'True');
    const done = await eventually(async () => {
      const x = await pod('ok');
      return x.status.phase === 'Succeeded' && x;
    }, 'Succeeded');
    assert.equal(cs(done).state.terminated.reason, 'Completed');
    assert.equal(done.status.conditions.find((c: any) => c.type === 'Ready').reason, 'PodCompleted');
  });

  it('restarts a failing container with OnFailure and shows CrashLoopBackOff with upstream back-off messages', async () => {
    const created = await createPod('crash', { restartPolicy: 'OnFailure', containers: [{ name: 'c', image: 'busybox', command: ['/bin/sh', '-c', 'echo run; exit 1'] }] });
    const p = await eventually(async () => {
      const x = await pod('crash');
      return cs(x)?.state.waiting?.reason === 'CrashLoopBackOff' && x;
    }, 'CrashLoopBackOff');
    const s = cs(p);
    assert.match(s.state.waiting.message, new RegExp(`^back-off \\d+ms restarting failed container=c pod=crash_default\\(${created.metadata.uid}\\)$`));
    assert.ok(s.restartCount >= 1);
    assert.equal(s.lastState.terminated.exitCode, 1);
    assert.equal(p.status.phase, 'Running');
    await eventually(async () => cs(await pod('crash')).restartCount >= 3, 'more restarts');
    assert.deepEqual(await podLog('crash', 'previous=true'), { code: 200, body: 'run\n' });
    const backoff = (await events('crash')).find((e) => e.reason === 'BackOff');
    assert.equal(backoff?.message, `Back-off restarting failed container c in pod crash_default(${created.metadata.uid})`);
    assert.equal(backoff.type, 'Warning');
  });

  it('does not restart a container that succeeded under OnFailure', async () => {
    await createPod('onfailure-ok', { restartPolicy: 'OnFailure', containers: [{ name: 'c', image: 'x', command: ['/bin/true'] }] });
    const p = await eventually(async () => {
      const x = await pod('onfailure-ok');
      return x.status.phase === 'Succeeded' && x;
    }, 'Succeeded');
    assert.equal(cs(p).restartCount, 0);
  });

  it('reports a command that cannot run as StartError, and RunContainerError then CrashLoopBackOff when it restarts', async () => {
    await createPod('nocmd', { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x', command: ['/no/such/binary'] }] });
    const p = await eventually(async () => {
      const x = await pod('nocmd');
      return x.status.phase === 'Failed' && x;
    }, 'Failed');
    assert.equal(cs(p).state.terminated.reason, 'StartError');
    assert.equal(cs(p).state.terminated.exitCode, 128);
    assert.match(cs(p).state.terminated.message, /no such file or directory/);
    const failed = (await events('nocmd')).find((e) => e.reason === 'Failed');
    assert.match(failed.message, /^Error: .*no such file or directory/);

    await createPod('nocmd-always', { containers: [{ name: 'c', image: 'x', command: ['/no/such/binary'] }] });
    await eventually(async () => cs(await pod('nocmd-always'))?.state.waiting?.reason === 'RunContainerError', 'RunContainerError');
    const again = await eventually(async () => {
      const x = await pod('nocmd-always');
      return cs(x)?.state.waiting?.reason === 'CrashLoopBackOff' && x;
    }, 'CrashLoopBackOff after a failed start');
    assert.equal(cs(again).lastState.terminated.reason, 'StartError');
  });

  it('builds the environment from values, $(VAR) references, fieldRef, resourceFieldRef, configMaps, secrets and envFrom', async () => {
    await client.create(R.configmaps, 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' }, data: { color: 'blue', size: 'L' } });
    await client.create(R.secrets, 'default', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'sec' }, stringData: { password: 's3cret' } });
    await createPod(
      'env',
      {
        restartPolicy: 'Never',
        containers: [
          {
            name: 'c',
            image: 'x',
            command: ['/bin/sh', '-c'],
            args: ['echo "arg=$(GREETING)"; env | sort'],
            resources: { limits: { memory: '64Mi', cpu: '500m' } },
            envFrom: [{ prefix: 'CM_', configMapRef: { name: 'cfg' } }],
            env: [
              { name: 'GREETING', value: 'hello' },
              { name: 'MSG', value: '$(GREETING) world $$(GREETING) $(UNDEFINED)' },
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'POD_NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
              { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
              { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
              { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
              { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
              { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
              { name: 'COLOR', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'color' } } },
              { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'sec', key: 'password' } } },
              { name: 'MAYBE', valueFrom: { secretKeyRef: { name: 'missing', key: 'k', optional: true } } },
            ],
          },
        ],
      },
      'default',
      { labels: { app: 'web' } },
    );
    await eventually(async () => (await pod('env')).status.phase === 'Succeeded', 'Succeeded');
    const out = (await podLog('env')).body;
    const env = new Map(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    assert.equal(env.get('arg'), 'hello');
    assert.equal(env.get('MSG'), 'hello world $(GREETING) $(UNDEFINED)');
    assert.equal(env.get('POD_NAME'), 'env');
    assert.equal(env.get('POD_NS'), 'default');
    assert.equal(env.get('APP'), 'web');
    assert.equal(env.get('NODE'), NODE);
    assert.equal(env.get('HOST_IP'), '127.0.0.1');
    assert.equal(env.get('MEM_MI'), '64');
    assert.equal(env.get('CPU'), '1');
    assert.equal(env.get('COLOR'), 'blue');
    assert.equal(env.get('CM_color'), 'blue');
    assert.equal(env.get('CM_size'), 'L');
    assert.equal(env.get('PASSWORD'), 's3cret');
    assert.equal(env.has('MAYBE'), false);
    assert.equal(env.get('KUBERNETES_SERVICE_HOST'), '10.96.0.1');
    assert.equal(env.get('KUBERNETES_SERVICE_PORT'), '443');
    assert.equal(env.get('KUBERNETES_PORT'), 'tcp://10.96.0.1:443');
  });

  it('waits with CreateContainerConfigError while a referenced ConfigMap is missing, then runs', async () => {
    await createPod('needs-cm', { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x', command: ['/bin/sh', '-c', 'echo $V'], env: [{ name: 'V', valueFrom: { configMapKeyRef: { name: 'later', key: 'v' } } }] }] });
    const p = await eventually(async () => {
      const x = await pod('needs-cm');
      return cs(x)?.state.waiting?.reason === 'CreateContainerConfigError' && x;
    }, 'CreateContainerConfigError');
    assert.equal(cs(p).state.waiting.message, 'configmap "later" not found');
    assert.equal(p.status.phase, 'Pending');
    await client.create(R.configmaps, 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'later' }, data: { v: 'now' } });
    await eventually(async () => (await pod('needs-cm')).status.phase === 'Succeeded', 'Succeeded');
    assert.equal((await podLog('needs-cm')).body, 'now\n');
  });

  it('holds a pod that waits for a Service until one of its slices has a ready endpoint, then starts it', async () => {
    // The container reads a file the test writes only just before the endpoint turns ready: an early start fails the pod.
    const marker = join(dir, 'rendezvous-marker');
    await createPod('worker', { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x', command: ['/bin/cat', marker] }] }, 'default', {
      annotations: { 'kite.io/wait-for-service': 'master' },
    });
    const waiting = await eventually(async () => {
      const x = await pod('worker');
      return cs(x)?.state.waiting?.reason === 'ContainerCreating' && (await events('worker')).some((e) => e.reason === 'WaitingForRendezvous') && x;
    }, 'the pod waiting for the rendezvous');
    assert.equal(waiting.status.phase, 'Pending');
    const slice = (name: string, service: string, ready: boolean) => ({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name, labels: { 'kubernetes.io/service-name': service } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.0.9'], conditions: { ready } }],
    });
    const SLICES = { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices' };
    // A ready endpoint of another Service, and a not-ready one of this Service, release nothing.
    await client.create(SLICES, 'default', slice('other-abc', 'other', true));
    const notReady = await client.create<any>(SLICES, 'default', slice('master-abc', 'master', false));
    writeFileSync(marker, 'master is ready\n');
    await client.update(SLICES, 'default', { ...notReady, endpoints: [{ addresses: ['10.244.0.9'], conditions: { ready: true } }] });
    await eventually(async () => (await pod('worker')).status.phase === 'Succeeded', 'the worker Succeeded');
    assert.equal((await podLog('worker')).body, 'master is ready\n');
    const reasons = (await events('worker')).map((e) => `${e.reason}: ${e.message}`);
    assert.deepEqual(
      reasons.filter((r) => r.startsWith('WaitingForRendezvous') || r.startsWith('RendezvousReady')),
      ['WaitingForRendezvous: Waiting for Service master to have a ready endpoint before starting containers', 'RendezvousReady: Service master has a ready endpoint'],
    );
    // A pod created once the endpoint is ready starts without waiting.
    await createPod('late-worker', { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x', command: ['/bin/cat', marker] }] }, 'default', {
      annotations: { 'kite.io/wait-for-service': 'master' },
    });
    await eventually(async () => (await pod('late-worker')).status.phase === 'Succeeded', 'the late worker Succeeded');
    assert.equal((await events('late-worker')).some((e) => e.reason === 'WaitingForRendezvous'), false);
  });

  it('prepares configMap, secret, downwardAPI and emptyDir volumes and mounts them', async () => {
    await client.create(R.configmaps, 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'vol-cm' }, data: { a: 'A', b: 'B' } });
    await client.create(R.secrets, 'default', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'vol-sec' }, stringData: { token: 'T' } });
    const created = await createPod(
      'vols',
      {
        restartPolicy: 'Never',
        initContainers: [{ name: 'init', image: 'x', command: ['/bin/sh', '-c', 'echo from-init > /work/seed'], volumeMounts: [{ name: 'scratch', mountPath: '/work' }] }],
        containers: [
          {
            name: 'c',
            image: 'x',
            command: ['/bin/sh', '-c', 'cat /etc/cfg/renamed /etc/sec/token /etc/info/name /work/seed; sleep 30'],
            volumeMounts: [
              { name: 'cfg', mountPath: '/etc/cfg' },
              { name: 'sec', mountPath: '/etc/sec' },
              { name: 'info', mountPath: '/etc/info' },
              { name: 'scratch', mountPath: '/work' },
            ],
          },
        ],
        volumes: [
          { name: 'cfg', configMap: { name: 'vol-cm', items: [{ key: 'a', path: 'renamed' }], defaultMode: 0o600 } },
          { name: 'sec', secret: { secretName: 'vol-sec' } },
          { name: 'info', downwardAPI: { items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } },
          { name: 'scratch', emptyDir: {} },
        ],
      },
      'default',
      { labels: { app: 'v' } },
    );
    const p = await eventually(async () => {
      const x = await pod('vols');
      return x.status.phase === 'Running' && x;
    }, 'Running');
    assert.equal(p.status.initContainerStatuses[0].state.terminated.reason, 'Completed');
    assert.equal(p.status.conditions.find((c: any) => c.type === 'Initialized').status, 'True');
    const vdir = join(dir, 'kubelet', 'pods', created.metadata.uid, 'volumes');
    assert.equal(readFileSync(join(vdir, 'kubernetes.io~configmap', 'cfg', 'renamed'), 'utf8'), 'A');
    assert.equal(existsSync(join(vdir, 'kubernetes.io~configmap', 'cfg', 'b')), false);
    assert.equal(statSync(join(vdir, 'kubernetes.io~configmap', 'cfg', 'renamed')).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(vdir, 'kubernetes.io~secret', 'sec', 'token'), 'utf8'), 'T');
    assert.equal(statSync(join(vdir, 'kubernetes.io~secret', 'sec', 'token')).mode & 0o777, 0o644);
    assert.equal(readFileSync(join(vdir, 'kubernetes.io~downward-api', 'info', 'name'), 'utf8'), 'vols');
    assert.equal(readFileSync(join(vdir, 'kubernetes.io~empty-dir', 'scratch', 'seed'), 'utf8'), 'from-init\n');
    // As root the runtime mounts each volume at its mountPath, so the container sees the same files there.
    if (process.getuid?.() === 0) {
      await eventually(async () => (await podLog('vols', 'container=c')).body === 'ATvolsfrom-init\n', 'the container to read its volumes');
    }
    await client.delete(R.pods, 'default', 'vols', { gracePeriodSeconds: 0 });
    await eventually(async () => !(await getOrUndefined(client, R.pods, 'default', 'vols')), 'the pod to go');
  });

  it('waits with a FailedMount event while a claim is unbound, then runs on the bound hostPath volume', async () => {
    const hostDir = join(dir, 'pv-data');
    await createPod('claim', {
      restartPolicy: 'Never',
      containers: [{ name: 'c', image: 'x', command: ['/bin/sh', '-c', `echo saved > ${hostDir}/out`], volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
    });
    await eventually(async () => (await events('claim')).some((e) => e.reason === 'FailedMount' && e.message.includes('persistentvolumeclaim "data" not found')), 'FailedMount');
    const waiting = await pod('claim');
    assert.equal(cs(waiting).state.waiting.reason, 'ContainerCreating');
    const logs = await podLog('claim');
    assert.equal(logs.code, 400);
    assert.equal(JSON.parse(logs.body).message, 'container "c" in pod "claim" is waiting to start: ContainerCreating');
    await client.create(R.persistentvolumes, '', {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: 'pv-data' },
      spec: { capacity: { storage: '1Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: hostDir, type: 'DirectoryOrCreate' } },
    });
    const pvc = await client.create(R.persistentvolumeclaims, 'default', {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, volumeName: 'pv-data' },
    });
    // Bind as the PV controller would.
    await client.patch(R.persistentvolumeclaims, 'default', 'data', 'merge', { status: { phase: 'Bound' } }, { subresource: 'status' });
    assert.ok(pvc);
    await eventually(async () => (await pod('claim')).status.phase === 'Succeeded', 'Succeeded');
    assert.equal(readFileSync(join(hostDir, 'out'), 'utf8'), 'saved\n');
  });

  it('stops containers with SIGTERM on deletion and deletes the pod object', async () => {
    const marker = join(dir, 'term-marker');
    await createPod('graceful', {
      terminationGracePeriodSeconds: 30,
      containers: [{ name: 'c', image: 'x', command: ['/bin/sh', '-c', `trap 'echo term > ${marker}; exit 0' TERM; echo up; while :; do sleep 0.05; done`] }],
    });
    // "up" is printed once the trap is in place.
    await eventually(async () => (await podLog('graceful')).body === 'up\n', 'the container to be up');
    const started = Date.now();
    await client.delete(R.pods, 'default', 'graceful');
    await eventually(async () => !(await getOrUndefined(client, R.pods, 'default', 'graceful')), 'the pod object to be deleted');
    assert.ok(Date.now() - started < 5000, 'a container that exits on SIGTERM does not wait out the grace period');
    assert.equal(readFileSync(marker, 'utf8'), 'term\n');
    const killing = (await events('graceful')).find((e) => e.reason === 'Killing');
    assert.equal(killing?.message, 'Stopping container c');
  });

  it('kills a container that ignores SIGTERM once the grace period is over', async () => {
    const pidFile = join(dir, 'stubborn-pid');
    await createPod('stubborn', { containers: [{ name: 'c', image: 'x', command: ['/bin/sh', '-c', `trap '' TERM; echo $$ > ${pidFile}; while :; do sleep 0.05; done`] }] });
    await eventually(async () => (await pod('stubborn')).status.phase === 'Running' && existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim(), 'Running');
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    const started = Date.now();
    await client.delete(R.pods, 'default', 'stubborn', { gracePeriodSeconds: 2 });
    await eventually(async () => !(await getOrUndefined(client, R.pods, 'default', 'stubborn')), 'the pod object to be deleted', 10_000);
    const took = Date.now() - started;
    assert.ok(took >= 1900, `waited the grace period (${took} ms)`);
    assert.throws(() => process.kill(pid, 0), 'the process is gone');
  });
});

describe('logs', () => {
  it('serves tailLines, limitBytes, timestamps and follows a running container until it exits', async () => {
    await createPod('lines', { restartPolicy: 'Never', containers: [{ name: 'c', image: 'x', command: ['/bin/sh', '-c', 'for i in 1 2 3 4 5; do echo line$i; done; sleep 0.5; echo last'] }] });
    await eventually(async () => (await podLog('lines')).body.startsWith('line1\nline2\nline3\nline4\nline5\n'), 'the first lines');
    // Follow while it runs: the stream ends once the container exits, with the later line in it.
    const followed = await podLog('lines', 'follow=true');
    assert.equal(followed.body, 'line1\nline2\nline3\nline4\nline5\nlast\n');
    assert.equal((await podLog('lines', 'tailLines=2')).body, 'line5\nlast\n');
    assert.equal((await podLog('lines', 'limitBytes=8')).body, 'line1\nli');
    const stamped = (await podLog('lines', 'timestamps=true&tailLines=1')).body;
    assert.match(stamped, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z last\n$/);
    assert.equal((await podLog('lines', 'sinceSeconds=3600')).body.split('\n').length, 7);
  });

  it('answers with upstream errors for a missing container name and a missing previous container', async () => {
    await createPod('two', { restartPolicy: 'Never', containers: [{ name: 'a', image: 'x', command: ['/bin/true'] }, { name: 'b', image: 'x', command: ['/bin/true'] }] });
    const noName = await podLog('two');
    assert.equal(noName.code, 400);
    assert.equal(JSON.parse(noName.body).message, 'a container name must be specified for pod two, choose one of: [a b]');
    await eventually(async () => (await pod('two')).status.phase === 'Succeeded', 'Succeeded');
    const prev = await podLog('two', 'container=a&previous=true');
    assert.equal(prev.code, 400);
    assert.equal(JSON.parse(prev.body).message, 'previous terminated container "a" in pod "two" not found');
    const bad = await podLog('two', 'container=zz');
    assert.equal(JSON.parse(bad.body).message, 'container zz is not valid for pod two');
  });
});
