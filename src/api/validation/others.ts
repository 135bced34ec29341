/**
 * Validation of the remaining built-in kinds Kite covers: networking
 * (Ingress, NetworkPolicy), policy (PodDisruptionBudget), autoscaling
 * (HorizontalPodAutoscaler v2), RBAC, scheduling (PriorityClass), storage
 * (StorageClass), coordination (Lease) and discovery (EndpointSlice).
 */
import { field, type FieldError } from '../errors.js';
import {
  isDNS1035Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidPercent,
  isValidPortNum,
  validatePathSegmentName,
} from '../names.js';
import { PORT_PROTOCOLS, validatePortNumOrName } from './pod.js';
import { validateImmutableField, validateLabelSelector, validateNonnegative, type Obj } from './meta.js';

/** upstream scheduling.HighestUserDefinablePriority. */
export const HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000;
const SYSTEM_PRIORITY_CLASSES: Record<string, number> = { 'system-node-critical': 2000001000, 'system-cluster-critical': 2000000000 };
const PATH_TYPES = ['Exact', 'ImplementationSpecific', 'Prefix'];

/** validateIngressBackend: exactly one of service/resource; service name and port rules. */
function validateIngressBackend(b: Obj, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (b.service && b.resource) return [field.invalid(path, '', 'cannot set both service and resource backends')];
  if (b.resource) {
    if (!b.resource.kind) errs.push(field.required(`${path}.resource.kind`, ''));
    if (!b.resource.name) errs.push(field.required(`${path}.resource.name`, ''));
    return errs;
  }
  if (!b.service) return [field.invalid(path, '', 'resource or service backend is required')];
  const s: Obj = b.service;
  if (!s.name) errs.push(field.required(`${path}.service.name`, ''));
  else for (const m of isDNS1035Label(s.name)) errs.push(field.invalid(`${path}.service.name`, s.name, m));
  const port: Obj = s.port ?? {};
  const hasName = !!port.name;
  const hasNum = port.number !== undefined && port.number !== 0;
  if (hasName && hasNum) errs.push(field.invalid(`${path}.service.port`, port, 'cannot set both port name & port number'));
  else if (hasName) for (const m of isDNS1035Label(port.name)) errs.push(field.invalid(`${path}.service.port.name`, port.name, m));
  else if (hasNum) for (const m of isValidPortNum(port.number)) errs.push(field.invalid(`${path}.service.port.number`, port.number, m));
  else errs.push(field.required(`${path}.service.port`, 'port name or number is required'));
  return errs;
}

/** ValidateIngressSpec (networking.k8s.io/v1). */
export function validateIngress(ing: Obj): FieldError[] {
  const s: Obj = ing.spec ?? {};
  const errs: FieldError[] = [];
  const rules: Obj[] = s.rules ?? [];
  if (!s.defaultBackend && rules.length === 0) errs.push(field.invalid('spec', rules, 'either `defaultBackend` or `rules` must be specified'));
  if (s.defaultBackend) errs.push(...validateIngressBackend(s.defaultBackend, 'spec.defaultBackend'));
  rules.forEach((r, i) => {
    const p = `spec.rules[${i}]`;
    if (r.host) {
      const host: string = r.host;
      if (host.startsWith('*.')) {
        for (const m of isDNS1123Subdomain(host.slice(2))) errs.push(field.invalid(`${p}.host`, host, m));
      } else {
        for (const m of isDNS1123Subdomain(host)) errs.push(field.invalid(`${p}.host`, host, m));
        if (/^[0-9.]+$/.test(host) || host.includes(':')) errs.push(field.invalid(`${p}.host`, host, 'must be a DNS name, not an IP address'));
      }
    }
    if (!r.http) return;
    const paths: Obj[] = r.http.paths ?? [];
    if (paths.length === 0) errs.push(field.required(`${p}.http.paths`, ''));
    paths.forEach((hp, j) => {
      const pp = `${p}.http.paths[${j}]`;
      if (!hp.pathType) errs.push(field.required(`${pp}.pathType`, 'pathType must be specified'));
      else if (!PATH_TYPES.includes(hp.pathType)) errs.push(field.notSupported(`${pp}.pathType`, hp.pathType, PATH_TYPES));
      const pathStr: string = hp.path ?? '';
      if (hp.pathType === 'Exact' || hp.pathType === 'Prefix') {
        if (!pathStr.startsWith('/')) errs.push(field.invalid(`${pp}.path`, pathStr, 'must be an absolute path'));
        if (/\/\/|\/\.\.?(\/|$)|%2f|%2F|~/.test(pathStr)) errs.push(field.invalid(`${pp}.path`, pathStr, "must not contain '//', '/./', '/../', '%2f' or '~'"));
      } else if (hp.pathType === 'ImplementationSpecific' && pathStr && !pathStr.startsWith('/')) {
        errs.push(field.invalid(`${pp}.path`, pathStr, 'must be an absolute path'));
      }
      if (!hp.backend) errs.push(field.required(`${pp}.backend`, ''));
      else errs.push(...validateIngressBackend(hp.backend, `${pp}.backend`));
    });
  });
  ((s.tls ?? []) as Obj[]).forEach((t, i) => {
    ((t.hosts ?? []) as string[]).forEach((h, j) => {
      const host = h.startsWith('*.') ? h.slice(2) : h;
      for (const m of isDNS1123Subdomain(host)) errs.push(field.invalid(`spec.tls[${i}].hosts[${j}]`, h, m));
    });
  });
  if (s.ingressClassName) for (const m of isDNS1123Subdomain(s.ingressClassName)) errs.push(field.invalid('spec.ingressClassName', s.ingressClassName, m));
  return errs;
}

/** ValidateNetworkPolicySpec basics: selectors, ports, peers, policyTypes. */
export function validateNetworkPolicy(np: Obj): FieldError[] {
  const s: Obj = np.spec ?? {};
  const errs: FieldError[] = [];
  errs.push(...validateLabelSelector(s.podSelector, 'spec.podSelector'));
  const ports = (list: Obj[] | undefined, p: string) =>
    (list ?? []).forEach((pt, i) => {
      const pp = `${p}[${i}]`;
      if (pt.protocol !== undefined && !(PORT_PROTOCOLS as readonly string[]).includes(pt.protocol)) {
        errs.push(field.notSupported(`${pp}.protocol`, pt.protocol, PORT_PROTOCOLS));
      }
      if (pt.port !== undefined) errs.push(...validatePortNumOrName(pt.port, `${pp}.port`));
      if (pt.endPort !== undefined) {
        if (typeof pt.port !== 'number') errs.push(field.required(`${pp}.port`, 'must be specified when endPort is specified'));
        else if (pt.endPort < pt.port) errs.push(field.invalid(`${pp}.endPort`, pt.endPort, 'must be greater than or equal to `port`'));
      }
    });
  const peers = (list: Obj[] | undefined, p: string) =>
    (list ?? []).forEach((peer, i) => {
      const pp = `${p}[${i}]`;
      const n = ['podSelector', 'namespaceSelector', 'ipBlock'].filter((k) => peer[k]).length;
      if (n === 0) errs.push(field.required(pp, 'must specify a peer'));
      else if (peer.ipBlock && n > 1) errs.push(field.forbidden(pp, 'may not specify both ipBlock and another peer'));
      errs.push(...validateLabelSelector(peer.podSelector, `${pp}.podSelector`));
      errs.push(...validateLabelSelector(peer.namespaceSelector, `${pp}.namespaceSelector`));
      if (peer.ipBlock && !peer.ipBlock.cidr) errs.push(field.required(`${pp}.ipBlock.cidr`, ''));
    });
  ((s.ingress ?? []) as Obj[]).forEach((r, i) => {
    ports(r.ports, `spec.ingress[${i}].ports`);
    peers(r.from, `spec.ingress[${i}].from`);
  });
  ((s.egress ?? []) as Obj[]).forEach((r, i) => {
    ports(r.ports, `spec.egress[${i}].ports`);
    peers(r.to, `spec.egress[${i}].to`);
  });
  const types: string[] = s.policyTypes ?? [];
  types.forEach((t, i) => {
    if (t !== 'Ingress' && t !== 'Egress') errs.push(field.notSupported(`spec.policyTypes[${i}]`, t, ['Ingress', 'Egress']));
  });
  if (types.length > 2) errs.push(field.invalid('spec.policyTypes', types, 'may not specify more than two policyTypes'));
  return errs;
}

/** ValidatePodDisruptionBudgetSpec. */
export function validatePDB(pdb: Obj): FieldError[] {
  const s: Obj = pdb.spec ?? {};
  const errs: FieldError[] = [];
  if (s.minAvailable !== undefined && s.maxUnavailable !== undefined) {
    errs.push(field.invalid('spec', s, 'minAvailable and maxUnavailable cannot be both set'));
  }
  for (const k of ['minAvailable', 'maxUnavailable']) {
    const v = s[k];
    if (v === undefined) continue;
    const p = `spec.${k}`;
    if (typeof v === 'string') {
      for (const m of isValidPercent(v)) errs.push(field.invalid(p, v, m));
      if (/^[0-9]+%$/.test(v) && Number(v.slice(0, -1)) > 100) errs.push(field.invalid(p, v, 'must not be greater than 100%'));
    } else errs.push(...validateNonnegative(v, p));
  }
  errs.push(...validateLabelSelector(s.selector, 'spec.selector'));
  if (s.unhealthyPodEvictionPolicy !== undefined && !['IfHealthyBudget', 'AlwaysAllow'].includes(s.unhealthyPodEvictionPolicy)) {
    errs.push(field.notSupported('spec.unhealthyPodEvictionPolicy', s.unhealthyPodEvictionPolicy, ['AlwaysAllow', 'IfHealthyBudget']));
  }
  return errs;
}

/** ValidateHorizontalPodAutoscalerSpec (autoscaling/v2). */
export function validateHPA(hpa: Obj): FieldError[] {
  const s: Obj = hpa.spec ?? {};
  const errs: FieldError[] = [];
  if (typeof s.minReplicas === 'number' && s.minReplicas < 1) errs.push(field.invalid('spec.minReplicas', s.minReplicas, 'must be greater than or equal to 1'));
  if (!(s.maxReplicas >= 1)) errs.push(field.invalid('spec.maxReplicas', s.maxReplicas ?? 0, 'must be greater than 0'));
  if (typeof s.minReplicas === 'number' && s.maxReplicas < s.minReplicas) {
    errs.push(field.invalid('spec.maxReplicas', s.maxReplicas, 'must be greater than or equal to `minReplicas`'));
  }
  const ref: Obj = s.scaleTargetRef ?? {};
  if (!ref.kind) errs.push(field.required('spec.scaleTargetRef.kind', ''));
  else for (const m of validatePathSegmentName(ref.kind, false)) errs.push(field.invalid('spec.scaleTargetRef.kind', ref.kind, m));
  if (!ref.name) errs.push(field.required('spec.scaleTargetRef.name', ''));
  else for (const m of validatePathSegmentName(ref.name, false)) errs.push(field.invalid('spec.scaleTargetRef.name', ref.name, m));
  const types = ['ContainerResource', 'External', 'Object', 'Pods', 'Resource'];
  ((s.metrics ?? []) as Obj[]).forEach((m, i) => {
    const p = `spec.metrics[${i}]`;
    if (!m.type) {
      errs.push(field.required(`${p}.type`, 'must specify a metric source type'));
      return;
    }
    if (!types.includes(m.type)) {
      errs.push(field.notSupported(`${p}.type`, m.type, types));
      return;
    }
    const key = m.type === 'ContainerResource' ? 'containerResource' : m.type.charAt(0).toLowerCase() + m.type.slice(1);
    const src: Obj | undefined = m[key];
    if (!src) {
      errs.push(field.required(`${p}.${key}`, `must populate information for the given metric source`));
      return;
    }
    const tgt: Obj | undefined = src.target;
    if (m.type === 'Resource' || m.type === 'ContainerResource') {
      if (!src.name) errs.push(field.required(`${p}.${key}.name`, 'must specify a resource name'));
    }
    if (!tgt) errs.push(field.required(`${p}.${key}.target`, 'must specify a metric target'));
    else {
      const tt = ['AverageValue', 'Utilization', 'Value'];
      if (!tt.includes(tgt.type)) errs.push(field.notSupported(`${p}.${key}.target.type`, tgt.type ?? '', tt));
      if (typeof tgt.averageUtilization === 'number' && tgt.averageUtilization < 1) {
        errs.push(field.invalid(`${p}.${key}.target.averageUtilization`, tgt.averageUtilization, 'must be greater than 0'));
      }
    }
  });
  return errs;
}

/** ValidatePolicyRule. */
function validatePolicyRule(rule: Obj, namespaced: boolean, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!(rule.verbs?.length > 0)) errs.push(field.required(`${path}.verbs`, 'verbs must contain at least one value'));
  if (rule.nonResourceURLs?.length > 0) {
    if (namespaced) errs.push(field.invalid(`${path}.nonResourceURLs`, rule.nonResourceURLs, 'namespaced rules cannot apply to non-resource URLs'));
    if (rule.apiGroups?.length > 0 || rule.resources?.length > 0 || rule.resourceNames?.length > 0) {
      errs.push(field.invalid(`${path}.nonResourceURLs`, rule.nonResourceURLs, 'rules cannot apply to both regular resources and non-resource URLs'));
    }
    return errs;
  }
  if (!(rule.apiGroups?.length > 0)) errs.push(field.required(`${path}.apiGroups`, 'resource rules must supply at least one api group'));
  if (!(rule.resources?.length > 0)) errs.push(field.required(`${path}.resources`, 'resource rules must supply at least one resource'));
  return errs;
}

/** ValidateRole / ValidateClusterRole. */
export function validateRole(role: Obj, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  ((role.rules ?? []) as Obj[]).forEach((r, i) => errs.push(...validatePolicyRule(r, namespaced, `rules[${i}]`)));
  if (!namespaced && role.aggregationRule) {
    const sels: Obj[] = role.aggregationRule.clusterRoleSelectors ?? [];
    if (sels.length === 0) errs.push(field.required('aggregationRule.clusterRoleSelectors', 'at least one clusterRoleSelector required if aggregationRule is non-nil'));
    sels.forEach((s, i) => errs.push(...validateLabelSelector(s, `aggregationRule.clusterRoleSelectors[${i}]`)));
  }
  return errs;
}

/** ValidateRoleBinding / ValidateClusterRoleBinding: roleRef and subjects. */
export function validateRoleBinding(rb: Obj, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const ref: Obj = rb.roleRef ?? {};
  if (ref.apiGroup !== 'rbac.authorization.k8s.io') errs.push(field.notSupported('roleRef.apiGroup', ref.apiGroup ?? '', ['rbac.authorization.k8s.io']));
  const kinds = namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole'];
  if (!kinds.includes(ref.kind)) errs.push(field.notSupported('roleRef.kind', ref.kind ?? '', kinds));
  if (!ref.name) errs.push(field.required('roleRef.name', ''));
  else for (const m of validatePathSegmentName(ref.name, false)) errs.push(field.invalid('roleRef.name', ref.name, m));
  ((rb.subjects ?? []) as Obj[]).forEach((s, i) => {
    const p = `subjects[${i}]`;
    if (!s.name) errs.push(field.required(`${p}.name`, ''));
    switch (s.kind) {
      case 'ServiceAccount':
        if (s.name) for (const m of isDNS1123Subdomain(s.name)) errs.push(field.invalid(`${p}.name`, s.name, m));
        if (s.apiGroup) errs.push(field.notSupported(`${p}.apiGroup`, s.apiGroup, ['']));
        if (!namespaced && !s.namespace) errs.push(field.required(`${p}.namespace`, ''));
        break;
      case 'User':
      case 'Group':
        if (s.apiGroup !== 'rbac.authorization.k8s.io') errs.push(field.notSupported(`${p}.apiGroup`, s.apiGroup ?? '', ['rbac.authorization.k8s.io']));
        break;
      default:
        errs.push(field.notSupported(`${p}.kind`, s.kind ?? '', ['ServiceAccount', 'User', 'Group']));
    }
  });
  return errs;
}

/** ValidateRoleBindingUpdate: `cannot change roleRef`. */
export function validateRoleBindingUpdate(rb: Obj, old: Obj, namespaced: boolean): FieldError[] {
  const errs = validateRoleBinding(rb, namespaced);
  const a: Obj = rb.roleRef ?? {};
  const b: Obj = old.roleRef ?? {};
  if (a.apiGroup !== b.apiGroup || a.kind !== b.kind || a.name !== b.name) errs.push(field.invalid('roleRef', a, 'cannot change roleRef'));
  return errs;
}

/** ValidatePriorityClass: reserved `system-` names, value ceiling, preemptionPolicy enum. */
export function validatePriorityClass(pc: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const name: string = pc.metadata?.name ?? '';
  if (name in SYSTEM_PRIORITY_CLASSES) {
    if (pc.value !== SYSTEM_PRIORITY_CLASSES[name]) {
      errs.push(field.forbidden('value', `value of system priority class ${name} must be ${SYSTEM_PRIORITY_CLASSES[name]}`));
    }
  } else if (name.startsWith('system-')) {
    errs.push(field.forbidden('metadata.name', "priority class names with 'system-' prefix are reserved for system use only"));
  } else if (typeof pc.value === 'number' && pc.value > HIGHEST_USER_DEFINABLE_PRIORITY) {
    errs.push(field.forbidden('value', `maximum allowed value of a user defined priority is ${HIGHEST_USER_DEFINABLE_PRIORITY}`));
  }
  if (pc.preemptionPolicy !== undefined && pc.preemptionPolicy !== 'PreemptLowerPriority' && pc.preemptionPolicy !== 'Never') {
    errs.push(field.notSupported('preemptionPolicy', pc.preemptionPolicy, ['Never', 'PreemptLowerPriority']));
  }
  return errs;
}

/** ValidatePriorityClassUpdate: value and preemptionPolicy are fixed. */
export function validatePriorityClassUpdate(pc: Obj, old: Obj): FieldError[] {
  const errs = validatePriorityClass(pc);
  if (pc.value !== old.value) errs.push(field.forbidden('value', 'may not be changed in an update.'));
  errs.push(...validateImmutableField(pc.preemptionPolicy, old.preemptionPolicy, 'preemptionPolicy'));
  return errs;
}

/** ValidateStorageClass. */
export function validateStorageClass(sc: Obj): FieldError[] {
  const errs: FieldError[] = [];
  if (!sc.provisioner) errs.push(field.required('provisioner', ''));
  else {
    for (const m of isQualifiedName(String(sc.provisioner).toLowerCase())) errs.push(field.invalid('provisioner', sc.provisioner, m));
  }
  if (sc.reclaimPolicy !== undefined && sc.reclaimPolicy !== 'Delete' && sc.reclaimPolicy !== 'Retain') {
    errs.push(field.notSupported('reclaimPolicy', sc.reclaimPolicy, ['Delete', 'Retain']));
  }
  if (sc.volumeBindingMode === undefined) errs.push(field.required('volumeBindingMode', ''));
  else if (sc.volumeBindingMode !== 'Immediate' && sc.volumeBindingMode !== 'WaitForFirstConsumer') {
    errs.push(field.notSupported('volumeBindingMode', sc.volumeBindingMode, ['Immediate', 'WaitForFirstConsumer']));
  }
  return errs;
}

/** ValidateStorageClassUpdate: parameters, provisioner, reclaimPolicy and volumeBindingMode are fixed. */
export function validateStorageClassUpdate(sc: Obj, old: Obj): FieldError[] {
  const errs = validateStorageClass(sc);
  if (JSON.stringify(sc.parameters ?? {}) !== JSON.stringify(old.parameters ?? {})) errs.push(field.forbidden('parameters', 'updates to parameters are forbidden.'));
  if (sc.provisioner !== old.provisioner) errs.push(field.forbidden('provisioner', 'updates to provisioner are forbidden.'));
  if (sc.reclaimPolicy !== old.reclaimPolicy) errs.push(field.forbidden('reclaimPolicy', 'updates to reclaimPolicy are forbidden.'));
  errs.push(...validateImmutableField(sc.volumeBindingMode, old.volumeBindingMode, 'volumeBindingMode'));
  return errs;
}

/** ValidateLeaseSpec. */
export function validateLease(lease: Obj): FieldError[] {
  const s: Obj = lease.spec ?? {};
  const errs: FieldError[] = [];
  if (typeof s.leaseDurationSeconds === 'number' && s.leaseDurationSeconds <= 0) {
    errs.push(field.invalid('spec.leaseDurationSeconds', s.leaseDurationSeconds, 'must be greater than 0'));
  }
  errs.push(...validateNonnegative(s.leaseTransitions, 'spec.leaseTransitions'));
  if (s.strategy !== undefined && s.strategy !== 'OldestEmulationVersion') {
    errs.push(field.notSupported('spec.strategy', s.strategy, ['OldestEmulationVersion']));
  }
  return errs;
}

/** ValidateEndpointSlice basics: addressType, endpoints' addresses, ports. */
export function validateEndpointSlice(es: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const types = ['IPv4', 'IPv6', 'FQDN'];
  if (!es.addressType) errs.push(field.required('addressType', ''));
  else if (!types.includes(es.addressType)) errs.push(field.notSupported('addressType', es.addressType, types));
  ((es.endpoints ?? []) as Obj[]).forEach((ep, i) => {
    const addrs: string[] = ep.addresses ?? [];
    if (addrs.length === 0) errs.push(field.required(`endpoints[${i}].addresses`, 'must contain at least 1 address'));
    else if (addrs.length > 100) errs.push(field.tooMany(`endpoints[${i}].addresses`, addrs.length, 100));
  });
  const names = new Set<string>();
  ((es.ports ?? []) as Obj[]).forEach((pt, i) => {
    const p = `ports[${i}]`;
    const name = pt.name ?? '';
    if (name) for (const m of isDNS1123Subdomain(name)) errs.push(field.invalid(`${p}.name`, name, m));
    if (names.has(name)) errs.push(field.duplicate(`${p}.name`, name));
    names.add(name);
    if (pt.protocol === undefined) errs.push(field.required(`${p}.protocol`, ''));
    else if (!(PORT_PROTOCOLS as readonly string[]).includes(pt.protocol)) errs.push(field.notSupported(`${p}.protocol`, pt.protocol, PORT_PROTOCOLS));
  });
  return errs;
}

/** ValidateEndpointSliceUpdate: addressType is immutable. */
export function validateEndpointSliceUpdate(es: Obj, old: Obj): FieldError[] {
  return [...validateEndpointSlice(es), ...validateImmutableField(es.addressType, old.addressType, 'addressType')];
}
