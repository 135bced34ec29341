/**
 * Upstream 1.32 defaulting (SetDefaults_* in pkg/apis/<group>/v1/defaults.go
 * and the `+default` markers) for the built-in kinds, applied in place to a
 * decoded object before validation. Also the defaults the registry fills
 * when it allocates (Service IP families, Namespace finalizer/phase) and
 * the Job strategy's generated selector.
 */

/** A loosely typed JSON object. */
type Obj = Record<string, any>;

/** Sets obj[key] = value when it is absent (undefined or null), as a nil pointer would be defaulted. */
function def(obj: Obj, key: string, value: unknown): void {
  if (obj[key] === undefined || obj[key] === null) obj[key] = value;
}

/** The child object at obj[key], created empty when absent. */
function child(obj: Obj, key: string): Obj {
  if (!obj[key] || typeof obj[key] !== 'object') obj[key] = {};
  return obj[key] as Obj;
}

/** The tag of an image reference, as ParseImageName reports it ('latest' when neither tag nor digest is given). */
export function imageTag(image: string): string {
  const at = image.indexOf('@');
  const name = at >= 0 ? image.slice(0, at) : image;
  const lastSlash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > lastSlash) return name.slice(colon + 1);
  return at >= 0 ? '' : 'latest';
}

/** SetDefaults_PersistentVolumeClaim + SetDefaults_PersistentVolumeClaimSpec: Filesystem volumes, phase Pending. */
function defaultPersistentVolumeClaim(o: Obj): void {
  def(child(o, 'spec'), 'volumeMode', 'Filesystem');
  const st = child(o, 'status');
  if (!st.phase) st.phase = 'Pending';
}

/** Sets `obj[key]` when it is absent or Go's zero value (0, ''), as Go defaulting sees an unset field. */
function defZero(obj: Obj, key: string, value: unknown): void {
  if (obj[key] === undefined || obj[key] === null || obj[key] === 0 || obj[key] === '') obj[key] = value;
}

/** SetDefaults_HTTPGetAction: path `/`, scheme HTTP (for probes and lifecycle hooks alike). */
function defaultHttpGet(h: Obj | undefined): void {
  if (!h) return;
  defZero(h, 'path', '/');
  defZero(h, 'scheme', 'HTTP');
}

/** SetDefaults_Probe + SetDefaults_HTTPGetAction. */
function defaultProbe(p: Obj | undefined): void {
  if (!p) return;
  defZero(p, 'timeoutSeconds', 1);
  defZero(p, 'periodSeconds', 10);
  defZero(p, 'successThreshold', 1);
  defZero(p, 'failureThreshold', 3);
  defaultHttpGet(p.httpGet);
}

/** SetDefaults_Container and the container-level nested defaults. */
function defaultContainer(c: Obj, hostNetwork: boolean): void {
  if (!c.imagePullPolicy) c.imagePullPolicy = imageTag(String(c.image ?? '')) === 'latest' ? 'Always' : 'IfNotPresent';
  if (!c.terminationMessagePath) c.terminationMessagePath = '/dev/termination-log';
  if (!c.terminationMessagePolicy) c.terminationMessagePolicy = 'File';
  for (const port of (c.ports ?? []) as Obj[]) {
    if (!port.protocol) port.protocol = 'TCP';
    // defaultHostNetworkPorts: with hostNetwork the host port is the container port
    if (hostNetwork && !port.hostPort) port.hostPort = port.containerPort;
  }
  for (const ev of (c.env ?? []) as Obj[]) {
    if (ev.valueFrom?.fieldRef) def(ev.valueFrom.fieldRef, 'apiVersion', 'v1');
  }
  // SetDefaults_Pod: requests default to limits for each resource with a limit and no request
  const limits: Obj | undefined = c.resources?.limits;
  if (limits && Object.keys(limits).length > 0) {
    const requests = child(c.resources, 'requests');
    for (const [k, v] of Object.entries(limits)) if (requests[k] === undefined) requests[k] = v;
  }
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
  defaultHttpGet(c.lifecycle?.postStart?.httpGet);
  defaultHttpGet(c.lifecycle?.preStop?.httpGet);
}

/** SetDefaults_Volume and the volume sources' defaults (modes 0644 = 420). */
function defaultVolume(v: Obj): void {
  const sources = Object.keys(v).filter((k) => k !== 'name' && v[k] !== undefined && v[k] !== null);
  if (sources.length === 0) v.emptyDir = {};
  if (v.secret) def(v.secret, 'defaultMode', 420);
  if (v.configMap) def(v.configMap, 'defaultMode', 420);
  if (v.downwardAPI) {
    def(v.downwardAPI, 'defaultMode', 420);
    for (const item of (v.downwardAPI.items ?? []) as Obj[]) if (item.fieldRef) def(item.fieldRef, 'apiVersion', 'v1');
  }
  if (v.projected) {
    def(v.projected, 'defaultMode', 420);
    for (const s of (v.projected.sources ?? []) as Obj[]) {
      if (s.serviceAccountToken) def(s.serviceAccountToken, 'expirationSeconds', 3600);
      for (const item of (s.downwardAPI?.items ?? []) as Obj[]) if (item.fieldRef) def(item.fieldRef, 'apiVersion', 'v1');
    }
  }
  if (v.hostPath) def(v.hostPath, 'type', '');
  if (v.iscsi) def(v.iscsi, 'iscsiInterface', 'default');
  if (v.rbd) {
    def(v.rbd, 'pool', 'rbd');
    def(v.rbd, 'user', 'admin');
    def(v.rbd, 'keyring', '/etc/ceph/keyring');
  }
  if (v.azureDisk) {
    def(v.azureDisk, 'cachingMode', 'ReadWrite');
    def(v.azureDisk, 'fsType', 'ext4');
    def(v.azureDisk, 'readOnly', false);
    def(v.azureDisk, 'kind', 'Shared');
  }
}

/** SetDefaults_PodSpec + SetDefaults_Pod (pod-level and nested). */
export function defaultPodSpec(spec: Obj): void {
  if (!spec.dnsPolicy) spec.dnsPolicy = 'ClusterFirst';
  if (!spec.restartPolicy) spec.restartPolicy = 'Always';
  def(spec, 'securityContext', {});
  def(spec, 'terminationGracePeriodSeconds', 30);
  if (!spec.schedulerName) spec.schedulerName = 'default-scheduler';
  def(spec, 'enableServiceLinks', true);
  const hostNetwork = spec.hostNetwork === true;
  for (const c of (spec.containers ?? []) as Obj[]) defaultContainer(c, hostNetwork);
  for (const c of (spec.initContainers ?? []) as Obj[]) defaultContainer(c, hostNetwork);
  for (const c of (spec.ephemeralContainers ?? []) as Obj[]) {
    if (!c.imagePullPolicy) c.imagePullPolicy = imageTag(String(c.image ?? '')) === 'latest' ? 'Always' : 'IfNotPresent';
    if (!c.terminationMessagePath) c.terminationMessagePath = '/dev/termination-log';
    if (!c.terminationMessagePolicy) c.terminationMessagePolicy = 'File';
  }
  for (const v of (spec.volumes ?? []) as Obj[]) defaultVolume(v);
}

/** Pod template defaults: the pod spec inside `template`. */
function defaultTemplate(template: Obj | undefined): void {
  if (template) defaultPodSpec(child(template, 'spec'));
}

/** The Job strategy's generated selector and labels (used unless spec.manualSelector is true); needs metadata.name and metadata.uid. */
export function jobGenerateSelector(job: Obj): void {
  const spec = child(job, 'spec');
  if (spec.manualSelector === true) return;
  const template = child(spec, 'template');
  const labels = child(child(template, 'metadata'), 'labels');
  const name = String(job.metadata?.name ?? '');
  const uid = String(job.metadata?.uid ?? '');
  // upstream: LegacyJobNameLabel, JobNameLabel, then LegacyControllerUidLabel, ControllerUidLabel; user-set values are kept
  for (const k of ['job-name', 'batch.kubernetes.io/job-name']) if (labels[k] === undefined) labels[k] = name;
  for (const k of ['controller-uid', 'batch.kubernetes.io/controller-uid']) if (labels[k] === undefined) labels[k] = uid;
  const matchLabels = child(child(spec, 'selector'), 'matchLabels');
  if (matchLabels['batch.kubernetes.io/controller-uid'] === undefined) matchLabels['batch.kubernetes.io/controller-uid'] = uid;
}

/** SetDefaults_Job. */
function defaultJob(job: Obj): void {
  const s = child(job, 'spec');
  if ((s.completions === undefined || s.completions === null) && (s.parallelism === undefined || s.parallelism === null)) {
    s.completions = 1;
    s.parallelism = 1;
  }
  def(s, 'parallelism', 1);
  def(s, 'backoffLimit', s.backoffLimitPerIndex !== undefined && s.backoffLimitPerIndex !== null ? 2147483647 : 6);
  const tl = s.template?.metadata?.labels;
  if (tl && Object.keys(job.metadata?.labels ?? {}).length === 0) child(job, 'metadata').labels = { ...tl };
  def(s, 'completionMode', 'NonIndexed');
  def(s, 'suspend', false);
  for (const rule of (s.podFailurePolicy?.rules ?? []) as Obj[]) {
    for (const pat of (rule.onPodConditions ?? []) as Obj[]) if (!pat.status) pat.status = 'True';
  }
  def(s, 'podReplacementPolicy', s.podFailurePolicy ? 'Failed' : 'TerminatingOrFailed');
  defaultTemplate(s.template);
}

/** GenerateHPAScaleUpRules / GenerateHPAScaleDownRules: fill the unset parts of a scaling rule. */
function defaultScalingRules(rules: Obj | undefined, up: boolean): Obj {
  const r: Obj = rules ?? {};
  def(r, 'stabilizationWindowSeconds', up ? 0 : 300);
  def(r, 'selectPolicy', 'Max');
  if (!r.policies || r.policies.length === 0) {
    r.policies = up
      ? [
          { type: 'Pods', value: 4, periodSeconds: 15 },
          { type: 'Percent', value: 100, periodSeconds: 15 },
        ]
      : [{ type: 'Percent', value: 100, periodSeconds: 15 }];
  }
  return r;
}

/** Service defaults, including the IP family fields the registry fills on allocation (single-stack IPv4 cluster). */
function defaultService(svc: Obj): void {
  const s = child(svc, 'spec');
  if (!s.sessionAffinity) s.sessionAffinity = 'None';
  if (s.sessionAffinity === 'ClientIP') def(child(child(s, 'sessionAffinityConfig'), 'clientIP'), 'timeoutSeconds', 10800);
  if (!s.type) s.type = 'ClusterIP';
  for (const p of (s.ports ?? []) as Obj[]) {
    if (!p.protocol) p.protocol = 'TCP';
    if (p.targetPort === undefined || p.targetPort === null || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
  }
  if ((s.type === 'NodePort' || s.type === 'LoadBalancer') && !s.externalTrafficPolicy) s.externalTrafficPolicy = 'Cluster';
  if (s.type !== 'ExternalName') {
    def(s, 'internalTrafficPolicy', 'Cluster');
    const headlessNoSelector = s.clusterIP === 'None' && Object.keys(s.selector ?? {}).length === 0;
    // registry (ipallocator) behaviour on a single-stack IPv4 cluster; selectorless headless services get both families
    if (headlessNoSelector) {
      def(s, 'ipFamilyPolicy', 'RequireDualStack');
      def(s, 'ipFamilies', ['IPv4', 'IPv6']);
    } else {
      def(s, 'ipFamilyPolicy', 'SingleStack');
      def(s, 'ipFamilies', ['IPv4']);
    }
  }
  if (s.type === 'LoadBalancer') def(s, 'allocateLoadBalancerNodePorts', true);
}

/** SetDefaults_LimitRangeItem: container defaults from max, defaultRequest from default or min. */
function defaultLimitRange(lr: Obj): void {
  for (const item of (lr.spec?.limits ?? []) as Obj[]) {
    if (item.type !== 'Container') continue;
    const d = child(item, 'default');
    const dr = child(item, 'defaultRequest');
    for (const [k, v] of Object.entries((item.max ?? {}) as Obj)) if (d[k] === undefined) d[k] = v;
    for (const [k, v] of Object.entries(d)) if (dr[k] === undefined) dr[k] = v;
    for (const [k, v] of Object.entries((item.min ?? {}) as Obj)) if (dr[k] === undefined) dr[k] = v;
  }
}

type Defaulter = (obj: Obj) => void;

const DEFAULTERS: Record<string, Defaulter> = {
  '/Pod': (o) => defaultPodSpec(child(o, 'spec')),
  '/PodTemplate': (o) => defaultTemplate(o.template),
  '/ReplicationController': (o) => {
    const s = child(o, 'spec');
    const tl = s.template?.metadata?.labels;
    if (tl && Object.keys(s.selector ?? {}).length === 0) s.selector = { ...tl };
    if (tl && Object.keys(o.metadata?.labels ?? {}).length === 0) child(o, 'metadata').labels = { ...tl };
    def(s, 'replicas', 1);
    defaultTemplate(s.template);
  },
  '/Service': defaultService,
  '/Namespace': (o) => {
    const name = o.metadata?.name;
    if (name) child(child(o, 'metadata'), 'labels')['kubernetes.io/metadata.name'] = name;
    // spec.finalizers is set by the namespace strategy on create (upstream PrepareForCreate), not by defaulting:
    // the namespace controller's finalize call must be able to empty it.
    const st = child(o, 'status');
    if (!st.phase) st.phase = 'Active';
  },
  '/Secret': (o) => {
    if (!o.type) o.type = 'Opaque';
  },
  '/PersistentVolumeClaim': defaultPersistentVolumeClaim,
  '/PersistentVolume': (o) => {
    const s = child(o, 'spec');
    if (!s.persistentVolumeReclaimPolicy) s.persistentVolumeReclaimPolicy = 'Retain';
    def(s, 'volumeMode', 'Filesystem');
    if (s.hostPath) def(s.hostPath, 'type', '');
    const st = child(o, 'status');
    if (!st.phase) st.phase = 'Pending';
  },
  '/Endpoints': (o) => {
    for (const ss of (o.subsets ?? []) as Obj[]) for (const p of (ss.ports ?? []) as Obj[]) if (!p.protocol) p.protocol = 'TCP';
  },
  '/LimitRange': defaultLimitRange,
  '/Node': (o) => {
    const st = o.status;
    if (st?.capacity && !st.allocatable) st.allocatable = { ...st.capacity };
  },
  'apps/Deployment': (o) => {
    const s = child(o, 'spec');
    def(s, 'replicas', 1);
    const st = child(s, 'strategy');
    if (!st.type) st.type = 'RollingUpdate';
    if (st.type === 'RollingUpdate') {
      const ru = child(st, 'rollingUpdate');
      def(ru, 'maxUnavailable', '25%');
      def(ru, 'maxSurge', '25%');
    }
    def(s, 'revisionHistoryLimit', 10);
    def(s, 'progressDeadlineSeconds', 600);
    defaultTemplate(s.template);
  },
  'apps/ReplicaSet': (o) => {
    const s = child(o, 'spec');
    def(s, 'replicas', 1);
    defaultTemplate(s.template);
  },
  'apps/StatefulSet': (o) => {
    const s = child(o, 'spec');
    if (!s.podManagementPolicy) s.podManagementPolicy = 'OrderedReady';
    const us = child(s, 'updateStrategy');
    if (!us.type) us.type = 'RollingUpdate';
    if (us.type === 'RollingUpdate') def(child(us, 'rollingUpdate'), 'partition', 0);
    def(s, 'replicas', 1);
    def(s, 'revisionHistoryLimit', 10);
    const pol = child(s, 'persistentVolumeClaimRetentionPolicy');
    if (!pol.whenDeleted) pol.whenDeleted = 'Retain';
    if (!pol.whenScaled) pol.whenScaled = 'Retain';
    defaultTemplate(s.template);
    // SetObjectDefaults_StatefulSet defaults each claim template as a PersistentVolumeClaim.
    for (const t of (s.volumeClaimTemplates ?? []) as Obj[]) if (t && typeof t === 'object') defaultPersistentVolumeClaim(t);
  },
  'apps/DaemonSet': (o) => {
    const s = child(o, 'spec');
    const us = child(s, 'updateStrategy');
    if (!us.type) us.type = 'RollingUpdate';
    if (us.type === 'RollingUpdate') {
      const ru = child(us, 'rollingUpdate');
      def(ru, 'maxUnavailable', 1);
      def(ru, 'maxSurge', 0);
    }
    def(s, 'revisionHistoryLimit', 10);
    defaultTemplate(s.template);
  },
  'batch/Job': defaultJob,
  'batch/CronJob': (o) => {
    const s = child(o, 'spec');
    if (!s.concurrencyPolicy) s.concurrencyPolicy = 'Allow';
    def(s, 'suspend', false);
    def(s, 'successfulJobsHistoryLimit', 3);
    def(s, 'failedJobsHistoryLimit', 1);
    defaultTemplate(s.jobTemplate?.spec?.template);
  },
  'autoscaling/HorizontalPodAutoscaler': (o) => {
    const s = child(o, 'spec');
    def(s, 'minReplicas', 1);
    // autoscaling/v2 only (v1 has targetCPUUtilizationPercentage and no metrics)
    if (!s.metrics || s.metrics.length === 0) {
      if (!('targetCPUUtilizationPercentage' in s)) {
        s.metrics = [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }];
      }
    }
    if (s.behavior) {
      s.behavior.scaleUp = defaultScalingRules(s.behavior.scaleUp, true);
      s.behavior.scaleDown = defaultScalingRules(s.behavior.scaleDown, false);
    }
  },
  'networking.k8s.io/NetworkPolicy': (o) => {
    const s = child(o, 'spec');
    for (const r of [...((s.ingress ?? []) as Obj[]), ...((s.egress ?? []) as Obj[])]) {
      for (const p of (r.ports ?? []) as Obj[]) if (!p.protocol) p.protocol = 'TCP';
    }
    if (!s.policyTypes || s.policyTypes.length === 0) {
      s.policyTypes = ['Ingress'];
      if ((s.egress ?? []).length > 0) s.policyTypes.push('Egress');
    }
  },
  'scheduling.k8s.io/PriorityClass': (o) => {
    if (!o.preemptionPolicy) o.preemptionPolicy = 'PreemptLowerPriority';
  },
  'storage.k8s.io/StorageClass': (o) => {
    if (!o.reclaimPolicy) o.reclaimPolicy = 'Delete';
    if (!o.volumeBindingMode) o.volumeBindingMode = 'Immediate';
  },
  'rbac.authorization.k8s.io/RoleBinding': (o) => defaultSubjects(o),
  'rbac.authorization.k8s.io/ClusterRoleBinding': (o) => defaultSubjects(o),
  'discovery.k8s.io/EndpointSlice': (o) => {
    for (const p of (o.ports ?? []) as Obj[]) {
      if (!p.protocol) p.protocol = 'TCP';
      def(p, 'name', '');
    }
  },
};

/** SetDefaults_Subject: User/Group subjects belong to the RBAC group, ServiceAccounts to core. */
function defaultSubjects(o: Obj): void {
  for (const s of (o.subjects ?? []) as Obj[]) {
    if (s.apiGroup !== undefined && s.apiGroup !== '') continue;
    // ServiceAccount subjects keep the empty (core) group, which serialises as absent
    if (s.kind === 'User' || s.kind === 'Group') s.apiGroup = 'rbac.authorization.k8s.io';
  }
}

/** Applies upstream defaulting for a built-in group/kind to `obj` in place; unknown kinds are left untouched. */
export function applyDefaults(group: string, kind: string, obj: any): void {
  if (!obj || typeof obj !== 'object') return;
  DEFAULTERS[`${group}/${kind}`]?.(obj);
}
