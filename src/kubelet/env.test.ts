import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { containerArgv, containerResourceValue, expand, formatMap, serviceEnv } from './env.js';

describe('$(VAR) expansion', () => {
  const vars: Record<string, string> = { A: 'x', B: 'y' };
  const lookup = (n: string) => vars[n];
  it('replaces defined references and keeps undefined ones as written', () => {
    assert.equal(expand('$(A)-$(B)-$(C)', lookup), 'x-y-$(C)');
  });
  it('treats $$ as an escaped $ and leaves other $ sequences alone', () => {
    assert.equal(expand('$$(A) $$ $A $', lookup), '$(A) $ $A $');
    assert.equal(expand('$(A', lookup), '$(A');
    assert.equal(expand('$$$(A)', lookup), '$x');
  });
  it('expands command and args against the final environment', () => {
    assert.deepEqual(containerArgv({ command: ['echo', '$(A)'], args: ['$(B)', '$(NOPE)'] }, vars), ['echo', 'x', 'y', '$(NOPE)']);
  });
});

describe('service environment variables', () => {
  it('gives the Docker-links style variables of services with a cluster IP', () => {
    const env = serviceEnv([
      { metadata: { name: 'my-db' }, spec: { clusterIP: '10.96.0.20', ports: [{ name: 'sql', port: 5432, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }] } },
      { metadata: { name: 'headless' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } },
    ]);
    assert.equal(env.MY_DB_SERVICE_HOST, '10.96.0.20');
    assert.equal(env.MY_DB_SERVICE_PORT, '5432');
    assert.equal(env.MY_DB_SERVICE_PORT_SQL, '5432');
    assert.equal(env.MY_DB_PORT, 'tcp://10.96.0.20:5432');
    assert.equal(env.MY_DB_PORT_5432_TCP, 'tcp://10.96.0.20:5432');
    assert.equal(env.MY_DB_PORT_5432_TCP_PROTO, 'tcp');
    assert.equal(env.MY_DB_PORT_5432_TCP_PORT, '5432');
    assert.equal(env.MY_DB_PORT_5432_TCP_ADDR, '10.96.0.20');
    assert.equal(env.MY_DB_PORT_53_UDP, 'udp://10.96.0.20:53');
    assert.equal(Object.keys(env).some((k) => k.startsWith('HEADLESS')), false);
  });
});

describe('downward API values', () => {
  it('rounds resource values up in units of the divisor, falling back to allocatable for unset limits', () => {
    const c = { resources: { limits: { cpu: '250m', memory: '1Gi' }, requests: { cpu: '100m' } } };
    assert.equal(containerResourceValue({ resource: 'limits.cpu' }, c, {}), '1');
    assert.equal(containerResourceValue({ resource: 'limits.cpu', divisor: '1m' }, c, {}), '250');
    assert.equal(containerResourceValue({ resource: 'requests.cpu', divisor: '1m' }, c, {}), '100');
    assert.equal(containerResourceValue({ resource: 'limits.memory', divisor: '1Mi' }, c, {}), '1024');
    assert.equal(containerResourceValue({ resource: 'limits.memory' }, {}, { memory: '2Ki' }), '2048');
  });
  it('formats label maps as sorted key="value" lines', () => {
    assert.equal(formatMap({ b: '2', a: 'x"y' }), 'a="x\\"y"\nb="2"');
  });
});
