import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyDefaults, jobGenerateSelector, imageTag } from './index.js';

test('pod defaults', () => {
  const pod: any = {
    spec: {
      containers: [
        { name: 'a', image: 'nginx', ports: [{ containerPort: 80 }], resources: { limits: { cpu: '1' } } },
        { name: 'b', image: 'nginx:1.27' },
        { name: 'c', image: 'repo/x@sha256:abc' },
      ],
      volumes: [{ name: 'cm', configMap: { name: 'x' } }, { name: 's', secret: { secretName: 'x' } }, { name: 'e' }],
    },
  };
  applyDefaults('', 'Pod', pod);
  const s = pod.spec;
  assert.equal(s.restartPolicy, 'Always');
  assert.equal(s.terminationGracePeriodSeconds, 30);
  assert.equal(s.dnsPolicy, 'ClusterFirst');
  assert.equal(s.schedulerName, 'default-scheduler');
  assert.deepEqual(s.securityContext, {});
  assert.equal(s.enableServiceLinks, true);
  assert.equal(s.priority, undefined); // set by admission, not defaulting
  assert.equal(s.containers[0].imagePullPolicy, 'Always');
  assert.equal(s.containers[1].imagePullPolicy, 'IfNotPresent');
  assert.equal(s.containers[2].imagePullPolicy, 'IfNotPresent');
  assert.equal(s.containers[0].terminationMessagePath, '/dev/termination-log');
  assert.equal(s.containers[0].terminationMessagePolicy, 'File');
  assert.equal(s.containers[0].ports[0].protocol, 'TCP');
  assert.deepEqual(s.containers[0].resources.requests, { cpu: '1' });
  assert.equal(s.volumes[0].configMap.defaultMode, 420);
  assert.equal(s.volumes[1].secret.defaultMode, 420);
  assert.deepEqual(s.volumes[2].emptyDir, {});
  assert.equal(imageTag('localhost:5000/app'), 'latest');
});

test('workload defaults', () => {
  const d: any = { spec: { template: { spec: { containers: [{ name: 'c', image: 'x:1' }] } } } };
  applyDefaults('apps', 'Deployment', d);
  assert.equal(d.spec.replicas, 1);
  assert.deepEqual(d.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
  assert.equal(d.spec.revisionHistoryLimit, 10);
  assert.equal(d.spec.progressDeadlineSeconds, 600);
  assert.equal(d.spec.template.spec.restartPolicy, 'Always');

  const ss: any = { spec: {} };
  applyDefaults('apps', 'StatefulSet', ss);
  assert.equal(ss.spec.podManagementPolicy, 'OrderedReady');
  assert.deepEqual(ss.spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { partition: 0 } });
  assert.deepEqual(ss.spec.persistentVolumeClaimRetentionPolicy, { whenDeleted: 'Retain', whenScaled: 'Retain' });

  const ds: any = { spec: {} };
  applyDefaults('apps', 'DaemonSet', ds);
  assert.deepEqual(ds.spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });

  const job: any = { spec: { template: { metadata: { labels: { app: 'j' } }, spec: { containers: [] } } } };
  applyDefaults('batch', 'Job', job);
  assert.equal(job.spec.parallelism, 1);
  assert.equal(job.spec.completions, 1);
  assert.equal(job.spec.backoffLimit, 6);
  assert.equal(job.spec.completionMode, 'NonIndexed');
  assert.equal(job.spec.suspend, false);
  assert.equal(job.spec.podReplacementPolicy, 'TerminatingOrFailed');
  const par: any = { spec: { parallelism: 3 } };
  applyDefaults('batch', 'Job', par);
  assert.equal(par.spec.completions, undefined);

  const cj: any = { spec: {} };
  applyDefaults('batch', 'CronJob', cj);
  assert.deepEqual([cj.spec.concurrencyPolicy, cj.spec.suspend, cj.spec.successfulJobsHistoryLimit, cj.spec.failedJobsHistoryLimit], ['Allow', false, 3, 1]);
});

test('job generated selector uses upstream label keys', () => {
  const job: any = { metadata: { name: 'pi', uid: 'u-1' }, spec: { template: { spec: {} } } };
  jobGenerateSelector(job);
  assert.deepEqual(job.spec.template.metadata.labels, {
    'job-name': 'pi',
    'batch.kubernetes.io/job-name': 'pi',
    'controller-uid': 'u-1',
    'batch.kubernetes.io/controller-uid': 'u-1',
  });
  assert.deepEqual(job.spec.selector, { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u-1' } });
});

test('service, namespace and misc defaults', () => {
  const svc: any = { spec: { type: 'NodePort', ports: [{ port: 80 }] } };
  applyDefaults('', 'Service', svc);
  assert.equal(svc.spec.sessionAffinity, 'None');
  assert.deepEqual(svc.spec.ports[0], { port: 80, protocol: 'TCP', targetPort: 80 });
  assert.equal(svc.spec.externalTrafficPolicy, 'Cluster');
  assert.equal(svc.spec.internalTrafficPolicy, 'Cluster');
  assert.equal(svc.spec.ipFamilyPolicy, 'SingleStack');
  assert.deepEqual(svc.spec.ipFamilies, ['IPv4']);
  const plain: any = { spec: { ports: [{ port: 80 }] } };
  applyDefaults('', 'Service', plain);
  assert.equal(plain.spec.type, 'ClusterIP');
  assert.equal(plain.spec.externalTrafficPolicy, undefined);

  const ns: any = { metadata: { name: 'team' } };
  applyDefaults('', 'Namespace', ns);
  // The kubernetes finalizer comes from the namespace strategy on create, so finalize can remove it.
  assert.equal(ns.spec?.finalizers, undefined);
  assert.equal(ns.status.phase, 'Active');
  assert.equal(ns.metadata.labels['kubernetes.io/metadata.name'], 'team');

  const sec: any = {};
  applyDefaults('', 'Secret', sec);
  assert.equal(sec.type, 'Opaque');
  const pvc: any = { spec: {} };
  applyDefaults('', 'PersistentVolumeClaim', pvc);
  assert.equal(pvc.spec.volumeMode, 'Filesystem');
  const pv: any = { spec: {} };
  applyDefaults('', 'PersistentVolume', pv);
  assert.equal(pv.spec.persistentVolumeReclaimPolicy, 'Retain');
  const pc: any = {};
  applyDefaults('scheduling.k8s.io', 'PriorityClass', pc);
  assert.equal(pc.preemptionPolicy, 'PreemptLowerPriority');
  const sc: any = {};
  applyDefaults('storage.k8s.io', 'StorageClass', sc);
  assert.deepEqual([sc.reclaimPolicy, sc.volumeBindingMode], ['Delete', 'Immediate']);
  const np: any = { spec: { egress: [{}] } };
  applyDefaults('networking.k8s.io', 'NetworkPolicy', np);
  assert.deepEqual(np.spec.policyTypes, ['Ingress', 'Egress']);
  const rb: any = { subjects: [{ kind: 'User', name: 'u' }, { kind: 'ServiceAccount', name: 's', namespace: 'd' }] };
  applyDefaults('rbac.authorization.k8s.io', 'RoleBinding', rb);
  assert.equal(rb.subjects[0].apiGroup, 'rbac.authorization.k8s.io');
  assert.equal(rb.subjects[1].apiGroup, undefined);
  const hpa: any = { spec: { behavior: {} } };
  applyDefaults('autoscaling', 'HorizontalPodAutoscaler', hpa);
  assert.equal(hpa.spec.minReplicas, 1);
  assert.equal(hpa.spec.metrics[0].resource.target.averageUtilization, 80);
  assert.equal(hpa.spec.behavior.scaleDown.stabilizationWindowSeconds, 300);
  assert.equal(hpa.spec.behavior.scaleUp.policies.length, 2);
});

test('probe and hook defaults treat zero values as unset, as Go defaulting does', () => {
  const pod: any = {
    spec: {
      containers: [
        {
          name: 'a',
          image: 'x',
          readinessProbe: { httpGet: { port: 80, path: '' }, timeoutSeconds: 0, periodSeconds: 0, successThreshold: 0, failureThreshold: 0 },
          livenessProbe: { tcpSocket: { port: 80 }, periodSeconds: 5 },
          lifecycle: { postStart: { httpGet: { port: 80 } }, preStop: { httpGet: { port: 80, path: '/stop', scheme: 'HTTPS' } } },
        },
      ],
    },
  };
  applyDefaults('', 'Pod', pod);
  const c = pod.spec.containers[0];
  assert.deepEqual(c.readinessProbe, { httpGet: { port: 80, path: '/', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 });
  assert.equal(c.livenessProbe.periodSeconds, 5);
  assert.deepEqual(c.lifecycle.postStart.httpGet, { port: 80, path: '/', scheme: 'HTTP' });
  assert.deepEqual(c.lifecycle.preStop.httpGet, { port: 80, path: '/stop', scheme: 'HTTPS' });
});
