/**
 * Pod validation of probes, lifecycle hooks and container restart policies:
 * the messages and field paths upstream 1.32 returns for the same pods.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldErrorMessage } from '../errors.js';
import { applyDefaults } from '../defaults/index.js';
import { validateObject } from './index.js';

/** Defaults then validates a pod (or, with `old`, an update of it), returning the rendered messages. */
function check(obj: any, old?: any): string[] {
  applyDefaults('', 'Pod', obj);
  if (old) applyDefaults('', 'Pod', old);
  return validateObject('', 'Pod', obj, old).map(fieldErrorMessage);
}

/** A pod whose only container gets `extra`, with pod spec fields `spec`. */
const pod = (extra: any = {}, spec: any = {}) => ({
  metadata: { name: 'p', namespace: 'default' },
  spec: { containers: [{ name: 'c', image: 'nginx:1.27', ...extra }], ...spec },
});

/** A pod with one init container that gets `extra`. */
const withInit = (extra: any) => pod({}, { initContainers: [{ name: 'init', image: 'busybox:1.36', ...extra }] });

const exec = { exec: { command: ['true'] } };
const INIT_FORBIDDEN = 'Forbidden: may not be set for init containers without restartPolicy=Always';

test('a plain init container may not have probes or lifecycle hooks', () => {
  const all = { lifecycle: { preStop: exec }, livenessProbe: exec, readinessProbe: exec, startupProbe: exec };
  assert.deepEqual(check(withInit(all)), [
    `spec.initContainers[0].lifecycle: ${INIT_FORBIDDEN}`,
    `spec.initContainers[0].livenessProbe: ${INIT_FORBIDDEN}`,
    `spec.initContainers[0].readinessProbe: ${INIT_FORBIDDEN}`,
    `spec.initContainers[0].startupProbe: ${INIT_FORBIDDEN}`,
  ]);
  // Even an empty (handler-less) probe is refused as forbidden, not validated.
  assert.deepEqual(check(withInit({ livenessProbe: {} })), [`spec.initContainers[0].livenessProbe: ${INIT_FORBIDDEN}`]);
  // A policy other than Always is unsupported, and the container is still a plain init container.
  assert.deepEqual(check(withInit({ restartPolicy: 'OnFailure', readinessProbe: exec })), [
    'spec.initContainers[0].restartPolicy: Unsupported value: "OnFailure": supported values: "Always"',
    `spec.initContainers[0].readinessProbe: ${INIT_FORBIDDEN}`,
  ]);
});

test('a sidecar init container (restartPolicy Always) may have probes and hooks, validated like a regular container', () => {
  const sidecar = { restartPolicy: 'Always', lifecycle: { postStart: exec, preStop: { sleep: { seconds: 5 } } }, livenessProbe: exec, readinessProbe: exec, startupProbe: exec };
  assert.deepEqual(check(withInit(sidecar)), []);
  assert.deepEqual(check(withInit({ restartPolicy: 'Always', livenessProbe: { ...exec, successThreshold: 2 }, lifecycle: { preStop: {} } })), [
    'spec.initContainers[0].lifecycle.preStop: Required value: must specify a handler type',
    'spec.initContainers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1',
  ]);
});

test('restartPolicy is forbidden on regular containers', () => {
  assert.deepEqual(check(pod({ restartPolicy: 'Always' })), ['spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers']);
});

test('liveness and startup probes need successThreshold 1; readiness may use more', () => {
  // 0 is what defaulting replaces with 1, so it is not an error
  assert.deepEqual(check(pod({ livenessProbe: { ...exec, successThreshold: 0 }, startupProbe: { ...exec, successThreshold: 1 } })), []);
  assert.deepEqual(check(pod({ livenessProbe: { ...exec, successThreshold: 3 }, readinessProbe: { ...exec, successThreshold: 3 }, startupProbe: { ...exec, successThreshold: 2 } })), [
    'spec.containers[0].livenessProbe.successThreshold: Invalid value: 3: must be 1',
    'spec.containers[0].startupProbe.successThreshold: Invalid value: 2: must be 1',
  ]);
});

test('a probe grace period must be positive and is not allowed on readiness probes', () => {
  assert.deepEqual(check(pod({ livenessProbe: { ...exec, terminationGracePeriodSeconds: 10 }, startupProbe: { ...exec, terminationGracePeriodSeconds: 1 } })), []);
  assert.deepEqual(check(pod({ livenessProbe: { ...exec, terminationGracePeriodSeconds: 0 }, startupProbe: { ...exec, terminationGracePeriodSeconds: -5 } })), [
    'spec.containers[0].livenessProbe.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0',
    'spec.containers[0].startupProbe.terminationGracePeriodSeconds: Invalid value: -5: must be greater than 0',
  ]);
  assert.deepEqual(check(pod({ readinessProbe: { ...exec, terminationGracePeriodSeconds: 10 } })), [
    'spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 10: must not be set for readinessProbes',
  ]);
});

test('a probe or hook has exactly one handler type', () => {
  assert.deepEqual(check(pod({ livenessProbe: { periodSeconds: 5 } })), ['spec.containers[0].livenessProbe: Required value: must specify a handler type']);
  assert.deepEqual(check(pod({ readinessProbe: { ...exec, httpGet: { port: 80 }, tcpSocket: { port: 80 } } })), [
    'spec.containers[0].readinessProbe.httpGet: Forbidden: may not specify more than 1 handler type',
    'spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type',
  ]);
  assert.deepEqual(check(pod({ lifecycle: { postStart: { httpGet: { port: 80 }, sleep: { seconds: 1 } }, preStop: {} } })), [
    'spec.containers[0].lifecycle.postStart.sleep: Forbidden: may not specify more than 1 handler type',
    'spec.containers[0].lifecycle.preStop: Required value: must specify a handler type',
  ]);
  // An empty lifecycle sets no hook and is valid.
  assert.deepEqual(check(pod({ lifecycle: {} })), []);
});

test('probe counts and delays may not be negative; zeros are left to defaulting', () => {
  const bad = { ...exec, initialDelaySeconds: -1, timeoutSeconds: -2, periodSeconds: -3, failureThreshold: -4 };
  assert.deepEqual(check(pod({ readinessProbe: bad })), [
    'spec.containers[0].readinessProbe.initialDelaySeconds: Invalid value: -1: must be greater than or equal to 0',
    'spec.containers[0].readinessProbe.timeoutSeconds: Invalid value: -2: must be greater than or equal to 0',
    'spec.containers[0].readinessProbe.periodSeconds: Invalid value: -3: must be greater than or equal to 0',
    'spec.containers[0].readinessProbe.failureThreshold: Invalid value: -4: must be greater than or equal to 0',
  ]);
  assert.deepEqual(check(pod({ readinessProbe: { ...exec, initialDelaySeconds: 0 } })), []);
  const defaulted = pod({ livenessProbe: { httpGet: { port: 8080 } } });
  assert.deepEqual(check(defaulted), []);
  assert.deepEqual(defaulted.spec.containers[0]!.livenessProbe, {
    httpGet: { port: 8080, path: '/', scheme: 'HTTP' },
    timeoutSeconds: 1,
    periodSeconds: 10,
    successThreshold: 1,
    failureThreshold: 3,
  });
});

test('handler details: exec command, httpGet port/scheme/headers, tcpSocket and gRPC ports', () => {
  assert.deepEqual(check(pod({ livenessProbe: { exec: {} } })), ['spec.containers[0].livenessProbe.exec.command: Required value']);
  assert.deepEqual(check(pod({ livenessProbe: { httpGet: { port: 0, scheme: 'FTP', httpHeaders: [{ name: 'X-Ok', value: '1' }, { name: 'Bad Header', value: '2' }] } } })), [
    'spec.containers[0].livenessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive',
    'spec.containers[0].livenessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS"',
    `spec.containers[0].livenessProbe.httpGet.httpHeaders: Invalid value: "Bad Header": a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')`,
  ]);
  // A hook's httpGet needs neither path nor scheme: they default to "/" and HTTP.
  assert.deepEqual(check(pod({ lifecycle: { postStart: { httpGet: { port: 80 } }, preStop: { httpGet: { port: 80, path: '', scheme: 'HTTPS' } } } })), []);
  // A named port must be an IANA service name; a quoted number is a name too, as intstr decodes it.
  assert.deepEqual(check(pod({ readinessProbe: { httpGet: { port: 'http', path: '/healthz' } } })), []);
  assert.deepEqual(check(pod({ readinessProbe: { tcpSocket: { port: '8080' } } })), [
    'spec.containers[0].readinessProbe.tcpSocket.port: Invalid value: "8080": must contain at least one letter (a-z)',
  ]);
  assert.deepEqual(check(pod({ startupProbe: { tcpSocket: { port: 70000 } } })), [
    'spec.containers[0].startupProbe.tcpSocket.port: Invalid value: 70000: must be between 1 and 65535, inclusive',
  ]);
  assert.deepEqual(check(pod({ livenessProbe: { grpc: { port: 0 } } })), ['spec.containers[0].livenessProbe.grpc.port: Invalid value: 0: must be between 1 and 65535, inclusive']);
  assert.deepEqual(check(pod({ livenessProbe: { grpc: { port: 9090, service: 'health' } } })), []);
  // Hooks get the same handler rules.
  assert.deepEqual(check(pod({ lifecycle: { postStart: { tcpSocket: { port: 'Not_A_Name' } } } })), [
    'spec.containers[0].lifecycle.postStart.tcpSocket.port: Invalid value: "Not_A_Name": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
  ]);
});

test('a sleep hook lasts more than 0 seconds and no longer than the pod grace period', () => {
  const sleep = (seconds: number, spec: any = {}) => pod({ lifecycle: { preStop: { sleep: { seconds } } } }, spec);
  const msg = (v: number, grace: number) =>
    `spec.containers[0].lifecycle.preStop.sleep: Invalid value: ${v}: must be greater than 0 and less than terminationGracePeriodSeconds (${grace}). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep.`;
  assert.deepEqual(check(sleep(30)), [], 'equal to the default grace period of 30 is fine');
  assert.deepEqual(check(sleep(0)), [msg(0, 30)]);
  assert.deepEqual(check(sleep(31)), [msg(31, 30)]);
  assert.deepEqual(check(sleep(45, { terminationGracePeriodSeconds: 60 })), []);
  assert.deepEqual(check(sleep(45, { terminationGracePeriodSeconds: 40 })), [msg(45, 40)]);
});

test('an update keeps accepting a zero sleep the pod already had', () => {
  const zero = () => pod({ lifecycle: { preStop: { sleep: { seconds: 0 } } } });
  const next = zero();
  (next.metadata as any).labels = { touched: 'yes' };
  assert.deepEqual(check(next, zero()), []);
  // Without a zero sleep in the old pod the update is held to the create rule.
  const old = pod({ lifecycle: { preStop: { sleep: { seconds: 5 } } } });
  const errs = check(zero(), old);
  assert.equal(errs[0], 'spec.containers[0].lifecycle.preStop.sleep: Invalid value: 0: must be greater than 0 and less than terminationGracePeriodSeconds (30). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep.');
});

test('pod templates apply the same container rules', () => {
  const dep = {
    metadata: { name: 'd' },
    spec: {
      selector: { matchLabels: { app: 'a' } },
      template: { metadata: { labels: { app: 'a' } }, spec: { initContainers: [{ name: 'i', image: 'busybox', startupProbe: exec }], containers: [{ name: 'c', image: 'nginx', readinessProbe: {} }] } },
    },
  };
  applyDefaults('apps', 'Deployment', dep);
  assert.deepEqual(validateObject('apps', 'Deployment', dep).map(fieldErrorMessage), [
    'spec.template.spec.containers[0].readinessProbe: Required value: must specify a handler type',
    `spec.template.spec.initContainers[0].startupProbe: ${INIT_FORBIDDEN}`,
  ]);
});
