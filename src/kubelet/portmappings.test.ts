import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { podPortMappings } from './portmappings.js';

describe('podPortMappings', () => {
  it('publishes the hostPorts of regular containers, with protocol and host IP', () => {
    const pod = {
      spec: {
        initContainers: [{ name: 'init', ports: [{ containerPort: 1, hostPort: 1001 }] }],
        containers: [
          { name: 'web', ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 9090 }, { name: 'dns', containerPort: 53, hostPort: 5353, protocol: 'UDP', hostIP: '10.0.0.5' }] },
          { name: 'side', ports: [{ containerPort: 3000, hostPort: 3000, protocol: 'SCTP' }] },
          { name: 'none' },
        ],
      },
    };
    assert.deepEqual(podPortMappings(pod), [
      { containerPort: 80, hostPort: 8080, protocol: 'TCP' },
      { containerPort: 53, hostPort: 5353, protocol: 'UDP', hostIP: '10.0.0.5' },
      { containerPort: 3000, hostPort: 3000, protocol: 'SCTP' },
    ]);
  });

  it('counts a port listed twice in one container once (upstream MakePortMappings)', () => {
    const pod = {
      spec: {
        containers: [
          {
            name: 'c',
            ports: [
              { containerPort: 80, hostPort: 8080, protocol: 'TCP' },
              { containerPort: 80, hostPort: 8080 },
              { name: 'a', containerPort: 81, hostPort: 8081 },
              { name: 'a', containerPort: 82, hostPort: 8082 },
              // Another address family is another mapping.
              { containerPort: 80, hostPort: 8080, hostIP: '::1' },
            ],
          },
        ],
      },
    };
    assert.deepEqual(podPortMappings(pod), [
      { containerPort: 80, hostPort: 8080, protocol: 'TCP' },
      { containerPort: 81, hostPort: 8081, protocol: 'TCP' },
      { containerPort: 80, hostPort: 8080, protocol: 'TCP', hostIP: '::1' },
    ]);
    assert.deepEqual(podPortMappings({ spec: {} }), []);
  });
});
