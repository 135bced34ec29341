import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../api/errors.js';
import { MemoryBackend } from '../../storage/memory.js';
import { systemContext } from '../bootstrap.js';
import { Registry } from '../registry/registry.js';
import { connectLocation, isPodConnect, kubeletQuery } from './connect.js';

async function setup() {
  const backend = new MemoryBackend();
  await backend.start();
  const registry = new Registry({ backend, serviceCidr: '10.96.0.0/12' });
  await registry.start();
  await registry.lookup('', 'v1', 'namespaces')!.create(systemContext(), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns' } });
  const pods = registry.lookup('', 'v1', 'pods')!;
  const nodes = registry.lookup('', 'v1', 'nodes')!;
  await nodes.create(systemContext(), { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
  const node = await nodes.get('', 'n1');
  await nodes.update(systemContext(), 'n1', { ...node, status: { addresses: [{ type: 'InternalIP', address: '10.0.0.7' }], daemonEndpoints: { kubeletEndpoint: { Port: 10250 } } } }, 'status');
  const pod = (name: string, containers: string[], nodeName?: string) =>
    pods.create(systemContext('ns'), { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { ...(nodeName ? { nodeName } : {}), initContainers: [{ name: 'init', image: 'x' }], containers: containers.map((c) => ({ name: c, image: 'x' })) } });
  await pod('one', ['main'], 'n1');
  await pod('two', ['a', 'b'], 'n1');
  await pod('pending', ['main']);
  const kubelet = { nodes, tls: { ca: '', cert: '', key: '' } };
  return { pods, kubelet, close: async () => (registry.stop(), await backend.close()) };
}

const q = (s: string) => new URLSearchParams(s);

test('pods/exec, pods/attach and pods/portforward are the connect subresources served', () => {
  assert.ok(isPodConnect({ group: '', resource: 'pods', subresource: 'exec', name: 'p' }));
  assert.ok(isPodConnect({ group: '', resource: 'pods', subresource: 'portforward', name: 'p' }));
  assert.ok(!isPodConnect({ group: '', resource: 'pods', subresource: 'log', name: 'p' }));
  assert.ok(!isPodConnect({ group: '', resource: 'pods', subresource: 'exec', name: '' }));
});

test('the kubelet query carries the options as upstream encodes them', () => {
  assert.equal(kubeletQuery('exec', q('command=sh&command=-c&command=echo a b&stdin=true&stdout=true&stderr=true&tty=false&container=c')), 'command=sh&command=-c&command=echo+a+b&stderr=1&stdin=1&stdout=1');
  assert.equal(kubeletQuery('attach', q('stdin=1&stdout=T&tty=true&command=ignored')), 'stdin=1&stdout=1&tty=1');
  assert.equal(kubeletQuery('portforward', q('ports=8080&ports=80,443')), 'port=8080%2C80%2C443');
  assert.equal(kubeletQuery('portforward', q('')), '');
  assert.throws(() => kubeletQuery('exec', q('stdin=maybe')), (e: ApiError) => e.code === 400 && e.message === 'stdin: strconv.ParseBool: parsing "maybe": invalid syntax');
  assert.throws(() => kubeletQuery('portforward', q('ports=http')), /ports: strconv.ParseInt: parsing "http": invalid syntax/);
});

test('a connect request is checked against the pod and sent to its kubelet', async (t) => {
  const env = await setup();
  t.after(env.close);
  const loc = (name: string, subresource: string, query: string) => connectLocation(env.pods, env.kubelet, { namespace: 'ns', name, subresource }, q(query));
  assert.deepEqual(await loc('one', 'exec', 'command=ls&stdout=true'), { host: '10.0.0.7', port: 10250, path: '/exec/ns/one/main?command=ls&stdout=1' });
  assert.deepEqual(await loc('two', 'attach', 'container=b&stdin=true'), { host: '10.0.0.7', port: 10250, path: '/attach/ns/two/b?stdin=1' });
  // Init containers can be addressed too.
  assert.equal((await loc('two', 'exec', 'container=init&stdout=1')).path, '/exec/ns/two/init?stdout=1');
  assert.deepEqual(await loc('one', 'portforward', 'ports=8080'), { host: '10.0.0.7', port: 10250, path: '/portForward/ns/one?port=8080' });

  const refused = async (p: Promise<unknown>, code: number, message: string) =>
    assert.rejects(p, (e: ApiError) => {
      assert.equal(e.code, code);
      assert.equal(e.message, message);
      return true;
    });
  await refused(loc('one', 'exec', 'container=nope&stdout=1'), 400, 'container nope is not valid for pod one');
  await refused(loc('two', 'exec', 'stdout=1'), 400, 'a container name must be specified for pod two, choose one of: [init a b]');
  await refused(loc('pending', 'exec', 'stdout=1'), 400, 'pod pending does not have a host assigned');
  await refused(loc('pending', 'portforward', ''), 400, 'pod pending does not have a host assigned');
  await refused(loc('missing', 'exec', 'stdout=1'), 404, 'pods "missing" not found');
});
