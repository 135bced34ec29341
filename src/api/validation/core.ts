/**
 * Validation of the core/v1 kinds other than Pod (Service, ConfigMap,
 * Secret, Namespace, PVC, PV, ResourceQuota, LimitRange, Node, Endpoints)
 * after upstream pkg/apis/core/validation.
 */
import { field, type FieldError } from '../errors.js';
import { isConfigMapKey, isDNS1123Subdomain, isQualifiedName, isValidPortNum, nameIsDNSSubdomain } from '../names.js';
import { parseQuantity, type Quantity } from '../quantity.js';
import { PORT_PROTOCOLS, validateDNS1123Label, validatePortNumOrName, validateResourceQuantityValue } from './pod.js';
import { deepEqual, FIELD_IMMUTABLE, keyPath, validateImmutableField, validateLabelSelector, type Obj } from './meta.js';

/** core.MaxSecretSize: 1 MiB for ConfigMap and Secret payloads. */
export const MAX_SECRET_SIZE = 1024 * 1024;
/** The default NodePort range the allocator enforces (kube-apiserver --service-node-port-range). */
export const NODE_PORT_RANGE = { min: 30000, max: 32767 } as const;

const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const ACCESS_MODES = ['ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOnce', 'ReadWriteOncePod'];

function isHeadless(svc: Obj): boolean {
  return svc.spec?.clusterIP === 'None';
}

/** ValidateService (create). */
export function validateService(svc: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const spec: Obj = svc.spec ?? {};
  const ports: Obj[] = Array.isArray(spec.ports) ? spec.ports : [];
  const type = spec.type ?? 'ClusterIP';
  if (ports.length === 0 && !isHeadless(svc) && type !== 'ExternalName') errs.push(field.required('spec.ports', ''));
  if (type === 'ExternalName') {
    const cname = String(spec.externalName ?? '').replace(/\.$/, '');
    if (cname) errs.push(...isDNS1123Subdomain(cname).map((m) => field.invalid('spec.externalName', cname, m)));
    else errs.push(field.required('spec.externalName', ''));
  }
  const names = new Set<string>();
  ports.forEach((sp, i) => {
    const p = `spec.ports[${i}]`;
    if (ports.length > 1 && !sp?.name) errs.push(field.required(`${p}.name`, ''));
    else if (sp?.name) {
      errs.push(...validateDNS1123Label(sp.name, `${p}.name`));
      if (names.has(sp.name)) errs.push(field.duplicate(`${p}.name`, sp.name));
      else names.add(sp.name);
    }
    for (const m of isValidPortNum(sp?.port)) errs.push(field.invalid(`${p}.port`, sp?.port ?? 0, m));
    if (!sp?.protocol) errs.push(field.required(`${p}.protocol`, ''));
    else if (!(PORT_PROTOCOLS as readonly string[]).includes(sp.protocol)) errs.push(field.notSupported(`${p}.protocol`, sp.protocol, PORT_PROTOCOLS));
    if (sp?.targetPort !== undefined) errs.push(...validatePortNumOrName(sp.targetPort, `${p}.targetPort`));
  });
  if (spec.sessionAffinity !== undefined && spec.sessionAffinity !== 'None' && spec.sessionAffinity !== 'ClientIP') {
    errs.push(field.notSupported('spec.sessionAffinity', spec.sessionAffinity, ['ClientIP', 'None']));
  }
  if (!SERVICE_TYPES.includes(type)) errs.push(field.notSupported('spec.type', type, SERVICE_TYPES));
  ports.forEach((sp, i) => {
    if (type !== 'NodePort' && type !== 'LoadBalancer' && sp?.nodePort) {
      errs.push(field.forbidden(`spec.ports[${i}].nodePort`, "may not be used when `type` is 'ClusterIP'"));
    }
  });
  // duplicate (protocol, port) pairs and (protocol, nodePort) pairs
  const seen = new Set<string>();
  const seenNode = new Set<string>();
  ports.forEach((sp, i) => {
    const key = `${sp?.protocol}/${sp?.port}`;
    if (seen.has(key)) errs.push(field.duplicate(`spec.ports[${i}]`, { port: sp?.port, protocol: sp?.protocol }));
    seen.add(key);
    if (sp?.nodePort) {
      const nk = `${sp.protocol}/${sp.nodePort}`;
      if (seenNode.has(nk)) errs.push(field.duplicate(`spec.ports[${i}].nodePort`, sp.nodePort));
      seenNode.add(nk);
      // the NodePort allocator's range check (registry), with its message
      if (sp.nodePort < NODE_PORT_RANGE.min || sp.nodePort > NODE_PORT_RANGE.max) {
        errs.push(
          field.invalid(
            `spec.ports[${i}].nodePort`,
            sp.nodePort,
            `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max}`,
          ),
        );
      }
    }
  });
  for (const [pfx, v] of [['spec.externalTrafficPolicy', spec.externalTrafficPolicy], ['spec.internalTrafficPolicy', spec.internalTrafficPolicy]] as const) {
    if (v !== undefined && v !== 'Cluster' && v !== 'Local') errs.push(field.notSupported(pfx, v, ['Cluster', 'Local']));
  }
  if (spec.externalTrafficPolicy !== undefined && type !== 'NodePort' && type !== 'LoadBalancer') {
    errs.push(field.invalid('spec.externalTrafficPolicy', spec.externalTrafficPolicy, 'may only be set when `type` is \'NodePort\' or \'LoadBalancer\''));
  }
  if (spec.ipFamilyPolicy !== undefined && !['SingleStack', 'PreferDualStack', 'RequireDualStack'].includes(spec.ipFamilyPolicy)) {
    errs.push(field.notSupported('spec.ipFamilyPolicy', spec.ipFamilyPolicy, ['PreferDualStack', 'RequireDualStack', 'SingleStack']));
  }
  (Array.isArray(spec.ipFamilies) ? spec.ipFamilies : []).forEach((f: unknown, i: number) => {
    if (f !== 'IPv4' && f !== 'IPv6') errs.push(field.notSupported(`spec.ipFamilies[${i}]`, f, ['IPv4', 'IPv6']));
  });
  if (spec.selector) {
    for (const [k, v] of Object.entries(spec.selector as Obj)) {
      for (const m of isQualifiedName(k)) errs.push(field.invalid('spec.selector', k, m));
      void v;
    }
  }
  return errs;
}

/** ValidateServiceUpdate: clusterIPs may not change once set (outside ExternalName transitions). */
export function validateServiceUpdate(svc: Obj, old: Obj): FieldError[] {
  const errs = validateService(svc);
  const type = svc.spec?.type ?? 'ClusterIP';
  const oldType = old.spec?.type ?? 'ClusterIP';
  if (type === 'ExternalName' || oldType === 'ExternalName') return errs;
  if (isHeadless(svc) && isHeadless(old)) return errs;
  const ips: string[] = svc.spec?.clusterIPs ?? (svc.spec?.clusterIP ? [svc.spec.clusterIP] : []);
  const oldIps: string[] = old.spec?.clusterIPs ?? (old.spec?.clusterIP ? [old.spec.clusterIP] : []);
  if (ips.length === oldIps.length) {
    oldIps.forEach((ip, i) => {
      if (ip !== ips[i]) errs.push(field.invalid(`spec.clusterIPs[${i}]`, ips, 'may not change once set'));
    });
  } else if (oldIps.length > ips.length) {
    if (ips.length === 0) errs.push(field.invalid('spec.clusterIPs[0]', ips, 'primary clusterIP can not be unset'));
  } else if (oldIps.length > 0 && oldIps[0] !== ips[0]) {
    errs.push(field.invalid('spec.clusterIPs[0]', ips, 'may not change once set'));
  }
  return errs;
}

/** Byte length of a Secret data value: data is base64 on the wire. */
function decodedLength(v: unknown): number {
  return typeof v === 'string' ? Buffer.from(v, 'base64').length : 0;
}

/** ValidateConfigMap: keys, data/binaryData overlap, total size ≤ 1 MiB. */
export function validateConfigMap(cm: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const data: Obj = cm.data ?? {};
  const bin: Obj = cm.binaryData ?? {};
  let total = 0;
  for (const [k, v] of Object.entries(data)) {
    for (const m of isConfigMapKey(k)) errs.push(field.invalid(keyPath('data', k), k, m));
    if (k in bin) errs.push(field.invalid(keyPath('data', k), k, 'duplicate of key present in binaryData'));
    total += Buffer.byteLength(String(v ?? ''));
  }
  for (const [k, v] of Object.entries(bin)) {
    for (const m of isConfigMapKey(k)) errs.push(field.invalid(keyPath('binaryData', k), k, m));
    if (k in data) errs.push(field.invalid(keyPath('binaryData', k), k, 'duplicate of key present in data'));
    total += decodedLength(v);
  }
  if (total > MAX_SECRET_SIZE) errs.push(field.tooLong('', '', MAX_SECRET_SIZE));
  return errs;
}

/** The `immutable: true` rules shared by ConfigMap and Secret updates. */
function validateImmutableData(obj: Obj, old: Obj, dataKeys: string[]): FieldError[] {
  const errs: FieldError[] = [];
  if (old.immutable === true) {
    if (obj.immutable !== true) errs.push(field.forbidden('immutable', 'field is immutable when `immutable` is set'));
    for (const k of dataKeys) {
      if (!deepEqual(obj[k] ?? {}, old[k] ?? {})) errs.push(field.forbidden(k, 'field is immutable when `immutable` is set'));
    }
  }
  return errs;
}

/** ValidateConfigMapUpdate. */
export function validateConfigMapUpdate(cm: Obj, old: Obj): FieldError[] {
  return [...validateImmutableData(cm, old, ['data', 'binaryData']), ...validateConfigMap(cm)];
}

/** ValidateSecret: keys, size, and the keys each well-known type requires. */
export function validateSecret(secret: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const data: Obj = { ...(secret.data ?? {}) };
  // stringData is merged into data on write (v1 conversion); validate the union
  for (const [k, v] of Object.entries((secret.stringData ?? {}) as Obj)) data[k] = Buffer.from(String(v)).toString('base64');
  let total = 0;
  for (const [k, v] of Object.entries(data)) {
    for (const m of isConfigMapKey(k)) errs.push(field.invalid(keyPath('data', k), k, m));
    total += decodedLength(v);
  }
  if (total > MAX_SECRET_SIZE) errs.push(field.tooLong('data', '', MAX_SECRET_SIZE));
  const req = (k: string) => errs.push(field.required(keyPath('data', k), ''));
  switch (secret.type ?? '') {
    case 'kubernetes.io/service-account-token':
      if (!secret.metadata?.annotations?.['kubernetes.io/service-account.name']) {
        errs.push(field.required(keyPath('metadata.annotations', 'kubernetes.io/service-account.name'), ''));
      }
      break;
    case 'kubernetes.io/dockercfg':
    case 'kubernetes.io/dockerconfigjson': {
      const key = secret.type === 'kubernetes.io/dockercfg' ? '.dockercfg' : '.dockerconfigjson';
      if (!(key in data)) {
        req(key);
        break;
      }
      try {
        JSON.parse(Buffer.from(String(data[key]), 'base64').toString('utf8'));
      } catch (e) {
        errs.push(field.invalid(keyPath('data', key), '<secret contents redacted>', (e as Error).message));
      }
      break;
    }
    case 'kubernetes.io/basic-auth':
      if (!('username' in data) && !('password' in data)) {
        req('username');
        req('password');
      }
      break;
    case 'kubernetes.io/ssh-auth':
      if (decodedLength(data['ssh-privatekey']) === 0) req('ssh-privatekey');
      break;
    case 'kubernetes.io/tls':
      if (!('tls.crt' in data)) req('tls.crt');
      if (!('tls.key' in data)) req('tls.key');
      break;
  }
  return errs;
}

/** ValidateSecretUpdate: type immutable, `immutable: true` freezes data. */
export function validateSecretUpdate(secret: Obj, old: Obj): FieldError[] {
  return [
    ...validateImmutableField(secret.type ?? '', old.type ?? '', 'type'),
    ...validateImmutableData(secret, old, ['data']),
    ...validateSecret(secret),
  ];
}

/** ValidateNamespace: spec.finalizers are qualified names, or the standard `kubernetes`. */
export function validateNamespace(ns: Obj): FieldError[] {
  const errs: FieldError[] = [];
  ((ns.spec?.finalizers ?? []) as string[]).forEach((f, i) => {
    const p = `spec.finalizers[${i}]`;
    const msgs = isQualifiedName(f);
    for (const m of msgs) errs.push(field.invalid(p, f, m));
    if (msgs.length === 0 && !f.includes('/') && f !== 'kubernetes') {
      errs.push(field.invalid(p, f, 'name is neither a standard finalizer name nor is it fully qualified'));
    }
  });
  return errs;
}

/** Parse a quantity or report `Invalid value` with the parse error. */
function q(v: unknown, path: string, errs: FieldError[]): Quantity | undefined {
  try {
    return parseQuantity(v as string);
  } catch (e) {
    errs.push(field.invalid(path, v, (e as Error).message));
    return undefined;
  }
}

/** ValidatePersistentVolumeClaimSpec. */
export function validatePVCSpec(spec: Obj | undefined, path = 'spec'): FieldError[] {
  const s: Obj = spec ?? {};
  const errs: FieldError[] = [];
  const modes: string[] = Array.isArray(s.accessModes) ? s.accessModes : [];
  if (modes.length === 0) errs.push(field.required(`${path}.accessModes`, 'at least 1 access mode is required'));
  errs.push(...validateLabelSelector(s.selector, `${path}.selector`));
  for (const m of modes) if (!ACCESS_MODES.includes(m)) errs.push(field.notSupported(`${path}.accessModes`, m, ACCESS_MODES));
  if (modes.includes('ReadWriteOncePod') && modes.length > 1) {
    errs.push(field.forbidden(`${path}.accessModes`, 'may not use ReadWriteOncePod with other access modes'));
  }
  const storagePath = keyPath(`${path}.resources`, 'storage');
  const storage = s.resources?.requests?.storage;
  if (storage === undefined) errs.push(field.required(storagePath, ''));
  else {
    const sq = q(storage, storagePath, errs);
    if (sq && sq.nanos <= 0n) errs.push(field.invalid(storagePath, sq.toString(), 'must be greater than zero'));
  }
  if (s.storageClassName) for (const m of nameIsDNSSubdomain(s.storageClassName, false)) errs.push(field.invalid(`${path}.storageClassName`, s.storageClassName, m));
  if (s.volumeMode !== undefined && s.volumeMode !== 'Block' && s.volumeMode !== 'Filesystem') {
    errs.push(field.notSupported(`${path}.volumeMode`, s.volumeMode, ['Block', 'Filesystem']));
  }
  return errs;
}

/** ValidatePersistentVolumeClaimUpdate: spec immutable except resources.requests (growing only) once bound. */
export function validatePVCUpdate(pvc: Obj, old: Obj): FieldError[] {
  const errs = validatePVCSpec(pvc.spec);
  const newSpec: Obj = structuredClone(pvc.spec ?? {});
  const oldSpec: Obj = old.spec ?? {};
  // volumeName may be set once by the binder; resources may change on bound claims
  if (!oldSpec.volumeName) newSpec.volumeName = oldSpec.volumeName;
  // since 1.28 a claim without a class may be given one later (retroactive default StorageClass)
  if (oldSpec.storageClassName == null) newSpec.storageClassName = oldSpec.storageClassName;
  if (old.status?.phase === 'Bound') newSpec.resources = oldSpec.resources;
  if (!deepEqual(newSpec, oldSpec)) {
    errs.push(field.forbidden('spec', 'spec is immutable after creation except resources.requests for bound claims'));
  }
  const ns = pvc.spec?.resources?.requests?.storage;
  const os = oldSpec.resources?.requests?.storage;
  if (ns !== undefined && os !== undefined) {
    try {
      if (parseQuantity(ns).cmp(parseQuantity(os)) < 0 && old.status?.phase === 'Bound') {
        errs.push(field.forbidden('spec.resources.requests.storage', 'field can not be less than previous value'));
      }
    } catch {
      // parse errors are already reported by validatePVCSpec
    }
  }
  return errs;
}

const PV_SOURCES = [
  'hostPath', 'gcePersistentDisk', 'awsElasticBlockStore', 'glusterfs', 'nfs', 'rbd', 'quobyte', 'cephfs', 'iscsi', 'cinder',
  'fc', 'flocker', 'flexVolume', 'azureFile', 'vsphereVolume', 'azureDisk', 'photonPersistentDisk', 'portworxVolume',
  'scaleIO', 'local', 'storageos', 'csi',
];

/** ValidatePersistentVolume basics: access modes, storage capacity, reclaim policy, one source. */
export function validatePV(pv: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const s: Obj = pv.spec ?? {};
  const modes: string[] = s.accessModes ?? [];
  if (modes.length === 0) errs.push(field.required('spec.accessModes', ''));
  for (const m of modes) if (!ACCESS_MODES.includes(m)) errs.push(field.notSupported('spec.accessModes', m, ACCESS_MODES));
  const cap: Obj = s.capacity ?? {};
  if (Object.keys(cap).length === 0) errs.push(field.required('spec.capacity', ''));
  if (!('storage' in cap) || Object.keys(cap).length > 1) errs.push(field.notSupported('spec.capacity', cap, ['storage']));
  for (const [k, v] of Object.entries(cap)) {
    const qq = q(v, keyPath('spec.capacity', k), errs);
    if (qq) errs.push(...validateResourceQuantityValue(k, qq, keyPath('spec.capacity', k)));
  }
  const rp = s.persistentVolumeReclaimPolicy;
  if (rp !== undefined && !['Delete', 'Recycle', 'Retain'].includes(rp)) errs.push(field.notSupported('spec.persistentVolumeReclaimPolicy', rp, ['Delete', 'Recycle', 'Retain']));
  let n = 0;
  for (const src of PV_SOURCES) {
    if (s[src] === undefined || s[src] === null) continue;
    if (n > 0) errs.push(field.forbidden(`spec.${src}`, 'may not specify more than 1 volume type'));
    n++;
    if (src === 'hostPath' && !s.hostPath.path) errs.push(field.required('spec.hostPath.path', ''));
    if (src === 'local' && !s.local.path) errs.push(field.required('spec.local.path', ''));
    if (src === 'csi' && !s.csi.driver) errs.push(field.required('spec.csi.driver', ''));
  }
  if (n === 0) errs.push(field.required('spec', 'must specify a volume type'));
  if (s.storageClassName) for (const m of nameIsDNSSubdomain(s.storageClassName, false)) errs.push(field.invalid('spec.storageClassName', s.storageClassName, m));
  if (s.volumeMode !== undefined && s.volumeMode !== 'Block' && s.volumeMode !== 'Filesystem') {
    errs.push(field.notSupported('spec.volumeMode', s.volumeMode, ['Block', 'Filesystem']));
  }
  return errs;
}

/** ValidateResourceQuota: hard values are valid, non-negative quantities with qualified names. */
export function validateResourceQuota(rq: Obj): FieldError[] {
  const errs: FieldError[] = [];
  for (const part of ['spec.hard', 'status.hard', 'status.used']) {
    const [a, b] = part.split('.') as [string, string];
    for (const [k, v] of Object.entries((rq[a]?.[b] ?? {}) as Obj)) {
      const p = keyPath(part, k);
      for (const m of isQualifiedName(k)) errs.push(field.invalid(p, k, m));
      const qq = q(v, p, errs);
      if (qq) errs.push(...validateResourceQuantityValue(k, qq, p));
    }
  }
  const scopes = ['Terminating', 'NotTerminating', 'BestEffort', 'NotBestEffort', 'PriorityClass', 'CrossNamespacePodAffinity'];
  ((rq.spec?.scopes ?? []) as string[]).forEach((sc) => {
    if (!scopes.includes(sc)) errs.push(field.invalid('spec.scopes', sc, 'unsupported scope'));
  });
  return errs;
}

/** ValidateLimitRange: per-type uniqueness and the min ≤ default(Request) ≤ max ordering. */
export function validateLimitRange(lr: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const types = new Set<string>();
  ((lr.spec?.limits ?? []) as Obj[]).forEach((item, i) => {
    const p = `spec.limits[${i}]`;
    if (types.has(item.type)) errs.push(field.duplicate(`${p}.type`, item.type));
    types.add(item.type);
    const parsed: Record<string, Map<string, Quantity>> = {};
    for (const part of ['max', 'min', 'default', 'defaultRequest', 'maxLimitRequestRatio']) {
      parsed[part] = new Map();
      for (const [k, v] of Object.entries((item[part] ?? {}) as Obj)) {
        const qp = keyPath(`${p}.${part}`, k);
        const qq = q(v, qp, errs);
        if (qq) {
          errs.push(...validateResourceQuantityValue(k, qq, qp));
          parsed[part]!.set(k, qq);
        }
      }
    }
    if (item.type === 'Pod') {
      if (parsed.default!.size > 0) errs.push(field.forbidden(`${p}.default`, 'may not be specified when `type` is \'Pod\''));
      if (parsed.defaultRequest!.size > 0) errs.push(field.forbidden(`${p}.defaultRequest`, 'may not be specified when `type` is \'Pod\''));
    }
    const keys = new Set<string>([...parsed.max!.keys(), ...parsed.min!.keys(), ...parsed.default!.keys(), ...parsed.defaultRequest!.keys()]);
    for (const k of keys) {
      const min = parsed.min!.get(k);
      const max = parsed.max!.get(k);
      const def = parsed.default!.get(k);
      const defReq = parsed.defaultRequest!.get(k);
      if (min && max && min.cmp(max) > 0) errs.push(field.invalid(keyPath(`${p}.min`, k), min.toString(), `min value ${min} is greater than max value ${max}`));
      if (defReq && def && defReq.cmp(def) > 0) {
        errs.push(field.invalid(keyPath(`${p}.defaultRequest`, k), defReq.toString(), `default request value ${defReq} is greater than default limit value ${def}`));
      }
      if (defReq && min && min.cmp(defReq) > 0) errs.push(field.invalid(keyPath(`${p}.defaultRequest`, k), defReq.toString(), `min value ${min} is greater than default request value ${defReq}`));
      if (defReq && max && defReq.cmp(max) > 0) errs.push(field.invalid(keyPath(`${p}.defaultRequest`, k), defReq.toString(), `default request value ${defReq} is greater than max value ${max}`));
      if (def && min && min.cmp(def) > 0) errs.push(field.invalid(keyPath(`${p}.default`, k), min.toString(), `min value ${min} is greater than default value ${def}`));
      if (def && max && def.cmp(max) > 0) errs.push(field.invalid(keyPath(`${p}.default`, k), max.toString(), `default value ${def} is greater than max value ${max}`));
    }
    for (const [k, r] of parsed.maxLimitRequestRatio!) {
      if (r.nanos < 1_000_000_000n) errs.push(field.invalid(keyPath(`${p}.maxLimitRequestRatio`, k), r.toString(), `ratio ${r} is less than 1`));
    }
  });
  return errs;
}

/** ValidateNode basics: taints and pod CIDR. */
export function validateNode(node: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const seen = new Set<string>();
  ((node.spec?.taints ?? []) as Obj[]).forEach((t, i) => {
    const p = `spec.taints[${i}]`;
    for (const m of isQualifiedName(String(t.key ?? ''))) errs.push(field.invalid(`${p}.key`, t.key ?? '', m));
    if (!t.effect) errs.push(field.required(`${p}.effect`, ''));
    else if (!['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect)) {
      errs.push(field.notSupported(`${p}.effect`, t.effect, ['NoSchedule', 'PreferNoSchedule', 'NoExecute']));
    }
    const key = `${t.key}:${t.effect}`;
    if (seen.has(key)) errs.push(field.duplicate(p, { key: t.key, effect: t.effect }));
    seen.add(key);
  });
  const cidrs: string[] = node.spec?.podCIDRs ?? (node.spec?.podCIDR ? [node.spec.podCIDR] : []);
  cidrs.forEach((c, i) => {
    if (!/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(c)) errs.push(field.invalid(`spec.podCIDRs[${i}]`, c, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'));
  });
  return errs;
}

/** ValidateNodeUpdate: podCIDRs and providerID may be set once. */
export function validateNodeUpdate(node: Obj, old: Obj): FieldError[] {
  const errs = validateNode(node);
  if (old.spec?.podCIDRs?.length && !deepEqual(node.spec?.podCIDRs, old.spec.podCIDRs)) {
    errs.push(field.forbidden('spec.podCIDRs', 'node updates may not change podCIDR except from "" to valid'));
  }
  if (old.spec?.providerID && node.spec?.providerID !== old.spec.providerID) {
    errs.push(field.forbidden('spec.providerID', 'node updates may not change providerID except from "" to valid'));
  }
  return errs;
}

/** ValidateEndpoints basics: subset ports and addresses. */
export function validateEndpoints(ep: Obj): FieldError[] {
  const errs: FieldError[] = [];
  ((ep.subsets ?? []) as Obj[]).forEach((ss, i) => {
    const p = `subsets[${i}]`;
    if ((ss.addresses ?? []).length === 0 && (ss.notReadyAddresses ?? []).length === 0) {
      errs.push(field.required(p, 'must specify `addresses` or `notReadyAddresses`'));
    }
    ((ss.addresses ?? []) as Obj[]).forEach((a, j) => {
      if (!a.ip) errs.push(field.required(`${p}.addresses[${j}].ip`, ''));
    });
    const ports: Obj[] = ss.ports ?? [];
    ports.forEach((pt, j) => {
      const pp = `${p}.ports[${j}]`;
      if (ports.length > 1 && !pt.name) errs.push(field.required(`${pp}.name`, ''));
      else if (pt.name) errs.push(...validateDNS1123Label(pt.name, `${pp}.name`));
      for (const m of isValidPortNum(pt.port)) errs.push(field.invalid(`${pp}.port`, pt.port ?? 0, m));
      if (!pt.protocol) errs.push(field.required(`${pp}.protocol`, ''));
      else if (!(PORT_PROTOCOLS as readonly string[]).includes(pt.protocol)) errs.push(field.notSupported(`${pp}.protocol`, pt.protocol, PORT_PROTOCOLS));
    });
  });
  return errs;
}

/** Re-export so callers of immutability rules share one message. */
export { FIELD_IMMUTABLE };
