/**
 * Pod, PodSpec and PodTemplateSpec validation after upstream
 * pkg/apis/core/validation (ValidatePodSpec, ValidatePodUpdate,
 * ValidatePodTemplateSpec), with upstream's messages.
 */
import { isIP } from 'node:net';
import { field, type FieldError } from '../errors.js';
import {
  inclusiveRangeError,
  isConfigMapKey,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  isValidPortName,
  isValidPortNum,
  nameIsDNSSubdomain,
  regexError,
} from '../names.js';
import { parseQuantity, type Quantity } from '../quantity.js';
import { deepEqual, IS_NEGATIVE, keyPath, validateAnnotations, validateLabels, validateNonnegative, type Obj } from './meta.js';

const MAX_INT32 = 2147483647;
/** upstream supportedPortProtocols, sorted as sets.List returns them. */
export const PORT_PROTOCOLS = ['SCTP', 'TCP', 'UDP'] as const;
/** upstream's list of volume source fields, in the order validateVolumeSource checks them. */
const VOLUME_SOURCES = [
  'hostPath', 'emptyDir', 'gitRepo', 'gcePersistentDisk', 'awsElasticBlockStore', 'secret', 'nfs', 'iscsi', 'glusterfs',
  'flocker', 'persistentVolumeClaim', 'rbd', 'quobyte', 'cinder', 'cephfs', 'downwardAPI', 'fc', 'azureFile',
  'vsphereVolume', 'photonPersistentDisk', 'portworxVolume', 'azureDisk', 'storageos', 'flexVolume', 'configMap',
  'scaleIO', 'projected', 'csi', 'ephemeral', 'image',
];
const STANDARD_CONTAINER_RESOURCES = new Set(['cpu', 'memory', 'ephemeral-storage']);

/** DNS-1123 label check producing Invalid errors on `path` (upstream ValidateDNS1123Label). */
export function validateDNS1123Label(value: string, path: string): FieldError[] {
  return isDNS1123Label(value).map((m) => field.invalid(path, value, m));
}

/** helper.IsNativeResource: no domain, or a kubernetes.io domain. */
function isNativeResource(name: string): boolean {
  return !name.includes('/') || name.includes('kubernetes.io/');
}

/** helper.IsOvercommitAllowed: only native, non-hugepage resources may have requests below limits. */
export function isOvercommitAllowed(name: string): boolean {
  return isNativeResource(name) && !name.startsWith('hugepages-');
}

/** Parses a quantity for validation, reporting upstream-like errors instead of throwing. */
function quantityAt(value: unknown, path: string, errs: FieldError[]): Quantity | undefined {
  try {
    return parseQuantity(value as string | number);
  } catch (e) {
    errs.push(field.invalid(path, value, (e as Error).message));
    return undefined;
  }
}

/** ValidateResourceQuantityValue: non-negative, and whole for integer resources (extended resources). */
export function validateResourceQuantityValue(name: string, q: Quantity, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (q.nanos < 0n) errs.push(field.invalid(path, q.toString(), IS_NEGATIVE));
  // helper.IsIntegerResourceName: extended resources (and a few standard counts) must be whole numbers
  if (!isNativeResource(name) && q.nanos % 1_000_000_000n !== 0n) errs.push(field.invalid(path, q.toString(), 'must be an integer'));
  return errs;
}

/** validateResourceName + validateContainerResourceName. */
function validateContainerResourceName(name: string, path: string): FieldError[] {
  const errs = isQualifiedName(name).map((m) => field.invalid(path, name, m));
  if (errs.length > 0) return errs;
  if (!name.includes('/')) {
    if (!STANDARD_CONTAINER_RESOURCES.has(name) && !name.startsWith('hugepages-')) {
      return [field.invalid(path, name, 'must be a standard resource for containers')];
    }
  } else if (!isNativeResource(name) && name.startsWith('requests.')) {
    return [field.invalid(path, name, "doesn't follow extended resource name standard")];
  }
  return errs;
}

/** ValidateResourceRequirements: names, quantities, requests ≤ limits (equal for extended resources). */
export function validateResourceRequirements(res: Obj | undefined, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const limits: Obj = res?.limits ?? {};
  const requests: Obj = res?.requests ?? {};
  const limPath = `${path}.limits`;
  const reqPath = `${path}.requests`;
  const limQ = new Map<string, Quantity>();
  for (const [name, v] of Object.entries(limits)) {
    const p = keyPath(limPath, name);
    errs.push(...validateContainerResourceName(name, p));
    const q = quantityAt(v, p, errs);
    if (q) {
      errs.push(...validateResourceQuantityValue(name, q, p));
      limQ.set(name, q);
    }
  }
  for (const [name, v] of Object.entries(requests)) {
    const p = keyPath(reqPath, name);
    errs.push(...validateContainerResourceName(name, p));
    const q = quantityAt(v, p, errs);
    if (!q) continue;
    errs.push(...validateResourceQuantityValue(name, q, p));
    const lim = limQ.get(name);
    if (lim) {
      if (q.cmp(lim) !== 0 && !isOvercommitAllowed(name)) {
        errs.push(field.invalid(reqPath, q.toString(), `must be equal to ${name} limit of ${lim.toString()}`));
      } else if (q.cmp(lim) > 0) {
        errs.push(field.invalid(reqPath, q.toString(), `must be less than or equal to ${name} limit of ${lim.toString()}`));
      }
    } else if (!isOvercommitAllowed(name) && !(name in limits)) {
      errs.push(field.required(limPath, 'Limit must be set for non overcommitable resources'));
    }
  }
  return errs;
}

/** validateContainerPorts: names IANA_SVC_NAME and unique, port numbers, protocol enum. */
function validateContainerPorts(ports: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  (Array.isArray(ports) ? ports : []).forEach((port: Obj, i: number) => {
    const p = `${path}[${i}]`;
    if (port?.name) {
      const msgs = isValidPortName(port.name);
      if (msgs.length > 0) for (const m of msgs) errs.push(field.invalid(`${p}.name`, port.name, m));
      else if (names.has(port.name)) errs.push(field.duplicate(`${p}.name`, port.name));
      else names.add(port.name);
    }
    if (!port?.containerPort) errs.push(field.required(`${p}.containerPort`, ''));
    else for (const m of isValidPortNum(port.containerPort)) errs.push(field.invalid(`${p}.containerPort`, port.containerPort, m));
    if (port?.hostPort) for (const m of isValidPortNum(port.hostPort)) errs.push(field.invalid(`${p}.hostPort`, port.hostPort, m));
    if (!port?.protocol) errs.push(field.required(`${p}.protocol`, ''));
    else if (!(PORT_PROTOCOLS as readonly string[]).includes(port.protocol)) errs.push(field.notSupported(`${p}.protocol`, port.protocol, PORT_PROTOCOLS));
  });
  return errs;
}

/** ValidateEnv with RelaxedEnvironmentVariableValidation (beta, on by default in 1.32): printable ASCII except '='. */
function validateEnv(env: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (Array.isArray(env) ? env : []).forEach((ev: Obj, i: number) => {
    const p = `${path}[${i}]`;
    const name = String(ev?.name ?? '');
    if (!name) errs.push(field.required(`${p}.name`, ''));
    if (!name) errs.push(field.invalid(`${p}.name`, name, 'environment variable name must be non-empty'));
    else if (!/^[\x20-\x3c\x3e-\x7e]+$/.test(name)) {
      errs.push(field.invalid(`${p}.name`, name, "a valid environment variable name must consist only of printable ASCII characters other than '='"));
    }
    const vf: Obj | undefined = ev?.valueFrom;
    if (vf) {
      const vp = `${p}.valueFrom`;
      const sources = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef'].filter((k) => vf[k]);
      if (sources.length === 0) errs.push(field.invalid(vp, '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'));
      if (sources.length > 1) errs.push(field.invalid(vp, '', 'may not have more than one field specified at a time'));
      if (ev.value && sources.length > 0) errs.push(field.invalid(vp, '', 'may not be specified when `value` is not empty'));
      for (const k of ['configMapKeyRef', 'secretKeyRef']) {
        const ref: Obj | undefined = vf[k];
        if (!ref) continue;
        if (!ref.name) errs.push(field.required(`${vp}.${k}.name`, ''));
        if (!ref.key) errs.push(field.required(`${vp}.${k}.key`, ''));
        else for (const m of isConfigMapKey(ref.key)) errs.push(field.invalid(`${vp}.${k}.key`, ref.key, m));
      }
      if (vf.fieldRef) {
        if (!vf.fieldRef.fieldPath) errs.push(field.required(`${vp}.fieldRef.fieldPath`, ''));
      }
      if (vf.resourceFieldRef && !vf.resourceFieldRef.resource) errs.push(field.required(`${vp}.resourceFieldRef.resource`, ''));
    }
  });
  return errs;
}

/** ValidateVolumeMounts: the volume must exist, mountPath required and unique. */
function validateVolumeMounts(mounts: unknown, volumes: Set<string>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const points = new Set<string>();
  (Array.isArray(mounts) ? mounts : []).forEach((m: Obj, i: number) => {
    const p = `${path}[${i}]`;
    const name = String(m?.name ?? '');
    if (!name) errs.push(field.required(`${p}.name`, ''));
    if (!volumes.has(name)) errs.push(field.notFound(`${p}.name`, name));
    const mp = String(m?.mountPath ?? '');
    if (!mp) errs.push(field.required(`${p}.mountPath`, ''));
    if (points.has(mp)) errs.push(field.invalid(`${p}.mountPath`, mp, 'must be unique'));
    points.add(mp);
    if (m?.subPath) errs.push(...validateLocalDescendingPath(m.subPath, `${p}.subPath`));
    if (m?.mountPropagation !== undefined && !['None', 'HostToContainer', 'Bidirectional'].includes(m.mountPropagation)) {
      errs.push(field.notSupported(`${p}.mountPropagation`, m.mountPropagation, ['Bidirectional', 'HostToContainer', 'None']));
    }
  });
  return errs;
}

/** validateLocalDescendingPath: relative, no '..' element. */
function validateLocalDescendingPath(target: string, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (target.startsWith('/')) errs.push(field.invalid(path, target, 'must be a relative path'));
  if (target.split(/[\\/]/).includes('..')) errs.push(field.invalid(path, target, "must not contain '..'"));
  return errs;
}

/** validatePullPolicy. */
function validatePullPolicy(policy: unknown, path: string): FieldError[] {
  if (policy === 'Always' || policy === 'IfNotPresent' || policy === 'Never') return [];
  if (!policy) return [field.required(path, '')];
  return [field.notSupported(path, policy, ['Always', 'IfNotPresent', 'Never'])];
}

/** Relaxations of pod validation that depend on the object being updated (upstream PodValidationOptions). */
export interface PodValidationOptions {
  /**
   * Accept a zero-second lifecycle sleep. Upstream gates this behind PodLifecycleSleepActionAllowZero
   * (alpha, off in 1.32) and keeps accepting it on update when the old pod already used one.
   */
  allowSleepZero?: boolean;
}

/** Whether a JSON field is present: upstream checks a pointer against nil, and `null` decodes to nil. */
const isSet = (v: unknown): boolean => v !== undefined && v !== null;

/** upstream validateExecAction: a command is required. */
function validateExecAction(exec: Obj, path: string): FieldError[] {
  return Array.isArray(exec?.command) && exec.command.length > 0 ? [] : [field.required(`${path}.command`, '')];
}

/** upstream supportedHTTPSchemes, sorted as sets.List returns them. */
const HTTP_SCHEMES = ['HTTP', 'HTTPS'] as const;
/** upstream IsHTTPHeaderName: the token characters Go's HTTP library accepts in a header name. */
const HTTP_HEADER_NAME_FMT = '[-A-Za-z0-9]+';
const HTTP_HEADER_NAME_RE = new RegExp(`^${HTTP_HEADER_NAME_FMT}$`);

/**
 * upstream validateHTTPGetAction: port, scheme HTTP|HTTPS, header names as Go's HTTP library accepts them
 * (IsHTTPHeaderName). An empty path or scheme is what SetDefaults_HTTPGetAction fills ("/", HTTP) before
 * upstream validates, so those count as their defaults here rather than as missing.
 */
function validateHTTPGetAction(http: Obj, path: string): FieldError[] {
  const errs: FieldError[] = [];
  errs.push(...validatePortNumOrName(http?.port, `${path}.port`));
  const scheme = http?.scheme || 'HTTP';
  if (!(HTTP_SCHEMES as readonly unknown[]).includes(scheme)) errs.push(field.notSupported(`${path}.scheme`, scheme, HTTP_SCHEMES));
  for (const h of (Array.isArray(http?.httpHeaders) ? http.httpHeaders : []) as Obj[]) {
    const name = String(h?.name ?? '');
    if (!HTTP_HEADER_NAME_RE.test(name)) {
      // upstream reports these on the list, not on the header's index
      errs.push(field.invalid(`${path}.httpHeaders`, name, regexError("a valid HTTP header must consist of alphanumeric characters or '-'", HTTP_HEADER_NAME_FMT, 'X-Header-Name')));
    }
  }
  return errs;
}

/**
 * upstream validateSleepAction with the PodLifecycleSleepActionAllowZero gate off unless the old pod used a
 * zero sleep: greater than 0 and at most the pod's terminationGracePeriodSeconds (skipped when that is unset).
 */
function validateSleepAction(sleep: Obj, gracePeriod: unknown, path: string, opts: PodValidationOptions): FieldError[] {
  if (typeof gracePeriod !== 'number') return [];
  const s = Number(sleep?.seconds ?? 0);
  if (opts.allowSleepZero) {
    if (s < 0 || s > gracePeriod) return [field.invalid(path, s, `must be non-negative and less than terminationGracePeriodSeconds (${gracePeriod})`)];
  } else if (s <= 0 || s > gracePeriod) {
    return [field.invalid(path, s, `must be greater than 0 and less than terminationGracePeriodSeconds (${gracePeriod}). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep.`)];
  }
  return [];
}

/** The handler types a probe may use, in the order upstream's validateHandler checks them. */
const PROBE_HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'grpc'] as const;
/** The handler types a lifecycle hook may use (a sleep instead of gRPC), in validateHandler's order. */
const LIFECYCLE_HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'sleep'] as const;

/** upstream validateHandler: exactly one handler type, each validated by its own rules. */
function validateHandler(h: Obj, kinds: readonly string[], gracePeriod: unknown, path: string, opts: PodValidationOptions): FieldError[] {
  const errs: FieldError[] = [];
  let n = 0;
  for (const kind of kinds) {
    if (!isSet(h[kind])) continue;
    const p = `${path}.${kind}`;
    if (n > 0) {
      errs.push(field.forbidden(p, 'may not specify more than 1 handler type'));
      continue;
    }
    n++;
    const a: Obj = h[kind];
    if (kind === 'exec') errs.push(...validateExecAction(a, p));
    else if (kind === 'httpGet') errs.push(...validateHTTPGetAction(a, p));
    else if (kind === 'tcpSocket') errs.push(...validatePortNumOrName(a?.port, `${p}.port`));
    // a gRPC port is an int32 (upstream wraps it in an IntOrString); an unset one is 0
    else if (kind === 'grpc') errs.push(...validatePortNumOrName(a?.port ?? 0, `${p}.port`));
    else errs.push(...validateSleepAction(a, gracePeriod, p, opts));
  }
  if (n === 0) errs.push(field.required(path, 'must specify a handler type'));
  return errs;
}

/** Which probe of a container is validated: each kind adds a rule to upstream's validateProbe. */
type ProbeKind = 'livenessProbe' | 'readinessProbe' | 'startupProbe';

/**
 * upstream validateProbe plus validateLivenessProbe / validateReadinessProbe / validateStartupProbe:
 * one handler, non-negative counts and delays (zeros were defaulted), a positive per-probe grace period,
 * successThreshold 1 for liveness and startup, and no grace period on readiness (it never kills).
 */
function validateProbe(probe: Obj | undefined, kind: ProbeKind, gracePeriod: unknown, path: string, opts: PodValidationOptions): FieldError[] {
  if (!isSet(probe)) return [];
  const p = probe as Obj;
  const errs = validateHandler(p, PROBE_HANDLERS, gracePeriod, path, opts);
  for (const k of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold']) {
    errs.push(...validateNonnegative(p[k], `${path}.${k}`));
  }
  const tgps = p.terminationGracePeriodSeconds;
  if (isSet(tgps) && tgps <= 0) errs.push(field.invalid(`${path}.terminationGracePeriodSeconds`, tgps, 'must be greater than 0'));
  // SetDefaults_Probe turns an unset or zero successThreshold into 1 before upstream validates it
  if (kind !== 'readinessProbe' && (p.successThreshold || 1) !== 1) errs.push(field.invalid(`${path}.successThreshold`, p.successThreshold, 'must be 1'));
  if (kind === 'readinessProbe' && isSet(tgps)) errs.push(field.invalid(`${path}.terminationGracePeriodSeconds`, tgps, 'must not be set for readinessProbes'));
  return errs;
}

/** upstream validateLifecycle: each hook that is set has exactly one valid handler. */
function validateLifecycle(lifecycle: Obj, gracePeriod: unknown, path: string, opts: PodValidationOptions): FieldError[] {
  const errs: FieldError[] = [];
  for (const hook of ['postStart', 'preStop']) {
    if (isSet(lifecycle?.[hook])) errs.push(...validateHandler(lifecycle[hook], LIFECYCLE_HANDLERS, gracePeriod, `${path}.${hook}`, opts));
  }
  return errs;
}

/** The checks upstream runs on a container that runs alongside the app: its lifecycle hooks and its three probes. */
function validateLifecycleAndProbes(c: Obj, gracePeriod: unknown, path: string, opts: PodValidationOptions): FieldError[] {
  const errs: FieldError[] = [];
  if (isSet(c.lifecycle)) errs.push(...validateLifecycle(c.lifecycle, gracePeriod, `${path}.lifecycle`, opts));
  for (const kind of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
    errs.push(...validateProbe(c[kind], kind, gracePeriod, `${path}.${kind}`, opts));
  }
  return errs;
}

/** ValidatePortNumOrName: an int-or-string port; a JSON string is always a port name, as intstr decodes it. */
export function validatePortNumOrName(port: unknown, path: string): FieldError[] {
  if (typeof port === 'number') return isValidPortNum(port).map((m) => field.invalid(path, port, m));
  if (typeof port === 'string') return isValidPortName(port).map((m) => field.invalid(path, port, m));
  return [field.invalid(path, port ?? null, 'must contain an int or string')];
}

/**
 * validateContainerCommon plus the per-list checks of validateContainers / validateInitContainers: unique names,
 * container restartPolicy, and hooks and probes only where the container runs alongside the app (regular
 * containers and restartable "sidecar" init containers).
 */
function validateContainerList(
  list: unknown,
  volumes: Set<string>,
  path: string,
  seen: Set<string>,
  regular: boolean,
  gracePeriod: unknown,
  opts: PodValidationOptions,
): FieldError[] {
  const errs: FieldError[] = [];
  const containers: Obj[] = Array.isArray(list) ? list : [];
  if (regular && containers.length === 0) errs.push(field.required(path, ''));
  containers.forEach((c, i) => {
    const p = `${path}[${i}]`;
    const name = String(c?.name ?? '');
    if (!name) errs.push(field.required(`${p}.name`, ''));
    else errs.push(...validateDNS1123Label(name, `${p}.name`));
    if (!c?.image) errs.push(field.required(`${p}.image`, ''));
    const tmp = c?.terminationMessagePolicy;
    if (tmp === undefined || tmp === '') errs.push(field.required(`${p}.terminationMessagePolicy`, "must be 'File' or 'FallbackToLogsOnError'"));
    else if (tmp !== 'File' && tmp !== 'FallbackToLogsOnError') errs.push(field.notSupported(`${p}.terminationMessagePolicy`, tmp, ['File', 'FallbackToLogsOnError']));
    errs.push(...validateContainerPorts(c?.ports, `${p}.ports`));
    errs.push(...validateEnv(c?.env, `${p}.env`));
    errs.push(...validateVolumeMounts(c?.volumeMounts, volumes, `${p}.volumeMounts`));
    errs.push(...validatePullPolicy(c?.imagePullPolicy, `${p}.imagePullPolicy`));
    errs.push(...validateResourceRequirements(c?.resources, `${p}.resources`));
    if (regular) {
      if (seen.has(name)) errs.push(field.duplicate(`${p}.name`, name));
      else seen.add(name);
      errs.push(...validateLifecycleAndProbes(c ?? {}, gracePeriod, p, opts));
      if (isSet(c?.restartPolicy)) errs.push(field.forbidden(`${p}.restartPolicy`, 'may not be set for non-init containers'));
      return;
    }
    // upstream validateInitContainerRestartPolicy: the only container restart policy is Always (a sidecar)
    if (isSet(c?.restartPolicy) && c.restartPolicy !== 'Always') errs.push(field.notSupported(`${p}.restartPolicy`, c.restartPolicy, ['Always']));
    if (seen.has(name)) errs.push(field.duplicate(`${p}.name`, name));
    else if (name) seen.add(name);
    if (c?.restartPolicy === 'Always') {
      errs.push(...validateLifecycleAndProbes(c, gracePeriod, p, opts));
      return;
    }
    // A plain init container runs to completion before the app starts, so hooks and probes have nothing to act on.
    for (const k of ['lifecycle', 'livenessProbe', 'readinessProbe', 'startupProbe']) {
      if (isSet(c?.[k])) errs.push(field.forbidden(`${p}.${k}`, 'may not be set for init containers without restartPolicy=Always'));
    }
  });
  return errs;
}

/** ValidateVolumes: names DNS labels and unique, exactly one source, the source's required parts. */
function validateVolumes(volumes: unknown, path: string): { errs: FieldError[]; names: Set<string> } {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  (Array.isArray(volumes) ? volumes : []).forEach((v: Obj, i: number) => {
    const p = `${path}[${i}]`;
    const el: FieldError[] = [];
    let n = 0;
    for (const src of VOLUME_SOURCES) {
      if (v?.[src] === undefined || v[src] === null) continue;
      if (n > 0) {
        el.push(field.forbidden(`${p}.${src}`, 'may not specify more than 1 volume type'));
        continue;
      }
      n++;
      el.push(...validateVolumeSourceDetail(src, v[src], `${p}.${src}`));
    }
    if (n === 0) el.push(field.required(p, 'must specify a volume type'));
    const name = String(v?.name ?? '');
    if (!name) el.push(field.required(`${p}.name`, ''));
    else el.push(...validateDNS1123Label(name, `${p}.name`));
    if (names.has(name)) el.push(field.duplicate(`${p}.name`, name));
    if (el.length === 0) names.add(name);
    else {
      names.add(name); // still let mounts resolve it; upstream reports the volume's own errors only once
      errs.push(...el);
    }
  });
  return { errs, names };
}

/** The required parts of the common volume sources. */
function validateVolumeSourceDetail(kind: string, s: Obj, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const mode = (m: unknown, p: string) => {
    if (m !== undefined && m !== null && (typeof m !== 'number' || m < 0 || m > 0o777)) {
      errs.push(field.invalid(p, m, 'must be a number between 0 and 0777 (octal), both inclusive'));
    }
  };
  switch (kind) {
    case 'hostPath':
      if (!s.path) errs.push(field.required(`${path}.path`, ''));
      break;
    case 'secret':
      if (!s.secretName) errs.push(field.required(`${path}.secretName`, ''));
      mode(s.defaultMode, `${path}.defaultMode`);
      break;
    case 'configMap':
      if (!s.name) errs.push(field.required(`${path}.name`, ''));
      mode(s.defaultMode, `${path}.defaultMode`);
      break;
    case 'persistentVolumeClaim':
      if (!s.claimName) errs.push(field.required(`${path}.claimName`, ''));
      break;
    case 'nfs':
      if (!s.server) errs.push(field.required(`${path}.server`, ''));
      if (!s.path) errs.push(field.required(`${path}.path`, ''));
      else if (!String(s.path).startsWith('/')) errs.push(field.invalid(`${path}.path`, s.path, 'must be an absolute path'));
      break;
    case 'emptyDir':
      if (s.medium !== undefined && !['', 'Memory', 'HugePages'].includes(s.medium) && !String(s.medium).startsWith('HugePages-')) {
        errs.push(field.notSupported(`${path}.medium`, s.medium, ['', 'Memory', 'HugePages']));
      }
      if (s.sizeLimit !== undefined) {
        try {
          if (parseQuantity(s.sizeLimit).nanos < 0n) errs.push(field.invalid(`${path}.sizeLimit`, String(s.sizeLimit), IS_NEGATIVE));
        } catch (e) {
          errs.push(field.invalid(`${path}.sizeLimit`, s.sizeLimit, (e as Error).message));
        }
      }
      break;
    case 'csi':
      if (!s.driver) errs.push(field.required(`${path}.driver`, ''));
      break;
    case 'projected':
      mode(s.defaultMode, `${path}.defaultMode`);
      break;
    case 'downwardAPI':
      mode(s.defaultMode, `${path}.defaultMode`);
      break;
  }
  return errs;
}

/** ValidateTolerations. */
export function validateTolerations(tolerations: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  (Array.isArray(tolerations) ? tolerations : []).forEach((t: Obj, i: number) => {
    const p = `${path}[${i}]`;
    const key = String(t?.key ?? '');
    if (key) for (const m of isQualifiedName(key)) errs.push(field.invalid(`${p}.key`, key, m));
    if (!key && t?.operator !== 'Exists') {
      errs.push(field.invalid(`${p}.operator`, t?.operator ?? '', 'operator must be Exists when `key` is empty, which means "match all values and all keys"'));
    }
    if (t?.tolerationSeconds !== undefined && t?.tolerationSeconds !== null && t?.effect !== 'NoExecute') {
      errs.push(field.invalid(`${p}.effect`, t?.effect ?? '', "effect must be 'NoExecute' when `tolerationSeconds` is set"));
    }
    switch (t?.operator) {
      case undefined:
      case '':
      case 'Equal':
        for (const m of isValidLabelValue(String(t?.value ?? ''))) errs.push(field.invalid(`${p}.operator`, t?.value, m));
        break;
      case 'Exists':
        if (t.value) errs.push(field.invalid(`${p}.operator`, t.value, "value must be empty when `operator` is 'Exists'"));
        break;
      default:
        errs.push(field.notSupported(`${p}.operator`, t.operator, ['Equal', 'Exists']));
    }
    if (t?.effect && !['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect)) {
      errs.push(field.notSupported(`${p}.effect`, t.effect, ['NoSchedule', 'PreferNoSchedule', 'NoExecute']));
    }
  });
  return errs;
}

/** validateRestartPolicy. */
function validateRestartPolicy(policy: unknown, path: string): FieldError[] {
  if (policy === 'Always' || policy === 'OnFailure' || policy === 'Never') return [];
  if (!policy) return [field.required(path, '')];
  return [field.notSupported(path, policy, ['Always', 'OnFailure', 'Never'])];
}

/** validateDNSPolicy. */
function validateDNSPolicy(policy: unknown, path: string): FieldError[] {
  if (policy === 'ClusterFirstWithHostNet' || policy === 'ClusterFirst' || policy === 'Default' || policy === 'None') return [];
  if (!policy) return [field.required(path, '')];
  return [field.notSupported(path, policy, ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'])];
}

/** upstream validatePodDNSConfig: None needs nameservers; at most 3 IP nameservers and 32 search domains (2048 characters); named options. */
function validatePodDNSConfig(dc: Obj | undefined, policy: unknown, path: string): FieldError[] {
  const nameservers: string[] = Array.isArray(dc?.nameservers) ? dc.nameservers : [];
  if (policy === 'None') {
    if (!dc) return [field.required(path, 'must provide `dnsConfig` when `dnsPolicy` is None')];
    if (nameservers.length === 0) return [field.required(`${path}.nameservers`, 'must provide at least one DNS nameserver when `dnsPolicy` is None')];
  }
  if (!dc) return [];
  const errs: FieldError[] = [];
  if (nameservers.length > 3) errs.push(field.invalid(`${path}.nameservers`, nameservers, 'must not have more than 3 nameservers'));
  nameservers.forEach((ns, i) => {
    if (!isIP(String(ns))) errs.push(field.invalid(`${path}.nameservers[${i}]`, ns, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'));
  });
  const searches: string[] = Array.isArray(dc.searches) ? dc.searches : [];
  if (searches.length > 32) errs.push(field.invalid(`${path}.searches`, searches, 'must not have more than 32 search paths'));
  if (searches.join(' ').length > 2048) errs.push(field.invalid(`${path}.searches`, searches, 'must not have more than 2048 characters (including spaces) in the search list'));
  searches.forEach((search, i) => {
    // A trailing dot is fine.
    const trimmed = String(search).replace(/\.$/, '');
    for (const m of isDNS1123Subdomain(trimmed)) errs.push(field.invalid(`${path}.searches[${i}]`, trimmed, m));
  });
  ((Array.isArray(dc.options) ? dc.options : []) as Obj[]).forEach((o, i) => {
    if (!o?.name) errs.push(field.required(`${path}.options[${i}]`, 'must not be empty'));
  });
  return errs;
}

/** ValidatePodSpec (the parts Kite enforces), in upstream's order. */
export function validatePodSpec(spec: Obj | undefined, path: string, opts: PodValidationOptions = {}): FieldError[] {
  const s: Obj = spec ?? {};
  const errs: FieldError[] = [];
  const vols = validateVolumes(s.volumes, `${path}.volumes`);
  errs.push(...vols.errs);
  const seen = new Set<string>();
  // upstream hands the pod's grace period to the hooks: a sleep may not outlast it
  const grace = s.terminationGracePeriodSeconds;
  errs.push(...validateContainerList(s.containers, vols.names, `${path}.containers`, seen, true, grace, opts));
  errs.push(...validateContainerList(s.initContainers, vols.names, `${path}.initContainers`, seen, false, grace, opts));
  errs.push(...validateRestartPolicy(s.restartPolicy, `${path}.restartPolicy`));
  errs.push(...validateDNSPolicy(s.dnsPolicy, `${path}.dnsPolicy`));
  errs.push(...validatePodDNSConfig(s.dnsConfig, s.dnsPolicy, `${path}.dnsConfig`));
  errs.push(...validateLabels(s.nodeSelector, `${path}.nodeSelector`));
  if (s.serviceAccountName) for (const m of nameIsDNSSubdomain(s.serviceAccountName, false)) errs.push(field.invalid(`${path}.serviceAccountName`, s.serviceAccountName, m));
  if (s.nodeName) for (const m of nameIsDNSSubdomain(s.nodeName, false)) errs.push(field.invalid(`${path}.nodeName`, s.nodeName, m));
  if (s.activeDeadlineSeconds !== undefined && s.activeDeadlineSeconds !== null) {
    const v = s.activeDeadlineSeconds;
    if (typeof v !== 'number' || v < 1 || v > MAX_INT32) errs.push(field.invalid(`${path}.activeDeadlineSeconds`, v, inclusiveRangeError(1, MAX_INT32)));
  }
  if (s.hostname) errs.push(...validateDNS1123Label(s.hostname, `${path}.hostname`));
  if (s.subdomain) errs.push(...validateDNS1123Label(s.subdomain, `${path}.subdomain`));
  errs.push(...validateTolerations(s.tolerations, `${path}.tolerations`));
  if (s.priorityClassName) for (const m of nameIsDNSSubdomain(s.priorityClassName, false)) errs.push(field.invalid(`${path}.priorityClassName`, s.priorityClassName, m));
  if (s.preemptionPolicy !== undefined && s.preemptionPolicy !== 'PreemptLowerPriority' && s.preemptionPolicy !== 'Never') {
    errs.push(field.notSupported(`${path}.preemptionPolicy`, s.preemptionPolicy, ['Never', 'PreemptLowerPriority']));
  }
  (Array.isArray(s.schedulingGates) ? s.schedulingGates : []).forEach((g: Obj, i: number) => {
    for (const m of isQualifiedName(String(g?.name ?? ''))) errs.push(field.invalid(`${path}.schedulingGates[${i}].name`, g?.name ?? '', m));
  });
  return errs;
}

/** ValidatePodTemplateSpec: template labels/annotations and the pod spec; no ephemeral containers. */
export function validatePodTemplateSpec(template: Obj | undefined, path: string): FieldError[] {
  if (!template) return [field.required(path, '')];
  const errs: FieldError[] = [];
  errs.push(...validateLabels(template.metadata?.labels, `${path}.labels`));
  errs.push(...validateAnnotations(template.metadata?.annotations, `${path}.annotations`));
  errs.push(...validatePodSpec(template.spec, `${path}.spec`));
  if (Array.isArray(template.spec?.ephemeralContainers) && template.spec.ephemeralContainers.length > 0) {
    errs.push(field.forbidden(`${path}.spec.ephemeralContainers`, 'ephemeral containers not allowed in pod template'));
  }
  return errs;
}

/** The fields a pod spec update may change (InPlacePodVerticalScaling is off by default in 1.32). */
const UPDATABLE_POD_SPEC_FIELDS = [
  '`spec.containers[*].image`',
  '`spec.initContainers[*].image`',
  '`spec.activeDeadlineSeconds`',
  '`spec.tolerations` (only additions to existing tolerations)',
  '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
];

/** ValidatePodUpdate's spec rules (metadata is validated by the caller). */
export function validatePodUpdate(pod: Obj, old: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const spec: Obj = pod.spec ?? {};
  const oldSpec: Obj = old.spec ?? {};
  errs.push(...validatePodSpec(spec, 'spec', { allowSleepZero: usesZeroSleep(oldSpec) }));
  // activeDeadlineSeconds may be set, or lowered, never removed or raised
  const ads = spec.activeDeadlineSeconds;
  const oldAds = oldSpec.activeDeadlineSeconds;
  if (oldAds !== undefined && oldAds !== null) {
    if (ads === undefined || ads === null) errs.push(field.invalid('spec.activeDeadlineSeconds', null, 'must not update from a positive integer to nil value'));
    else if (ads > oldAds) errs.push(field.invalid('spec.activeDeadlineSeconds', ads, 'must be less than or equal to previous value'));
  }
  // tolerations: only additions
  const newTol: Obj[] = spec.tolerations ?? [];
  for (const [i, t] of ((oldSpec.tolerations ?? []) as Obj[]).entries()) {
    const kept = newTol.some((n) => deepEqual(n, t) || (n.key === t.key && n.operator === t.operator && n.value === t.value && n.effect === t.effect && t.effect === 'NoExecute' && n.tolerationSeconds !== undefined && (t.tolerationSeconds === undefined || n.tolerationSeconds <= t.tolerationSeconds)));
    if (!kept) errs.push(field.forbidden(`spec.tolerations[${i}]`, 'existing toleration can not be modified except its tolerationSeconds'));
  }
  // scheduling gates may only be removed
  const oldGates = new Set(((oldSpec.schedulingGates ?? []) as Obj[]).map((g) => g.name));
  for (const g of (spec.schedulingGates ?? []) as Obj[]) {
    if (!oldGates.has(g.name)) {
      errs.push(field.forbidden('spec.schedulingGates', 'only deletion is allowed, but found new scheduling gate \'' + g.name + "'"));
      break;
    }
  }
  // Munge the allowed fields of the new spec to the old values and require the rest to be identical.
  const munged: Obj = structuredClone(spec);
  for (const list of ['containers', 'initContainers']) {
    const nl: Obj[] = munged[list] ?? [];
    const ol: Obj[] = oldSpec[list] ?? [];
    nl.forEach((c, i) => {
      if (i < ol.length) c.image = ol[i]!.image;
    });
  }
  munged.activeDeadlineSeconds = oldSpec.activeDeadlineSeconds;
  munged.tolerations = oldSpec.tolerations;
  munged.schedulingGates = oldSpec.schedulingGates;
  munged.ephemeralContainers = oldSpec.ephemeralContainers;
  if ((oldSpec.terminationGracePeriodSeconds ?? 0) < 0 && spec.terminationGracePeriodSeconds === 1) {
    munged.terminationGracePeriodSeconds = oldSpec.terminationGracePeriodSeconds;
  }
  if (oldGates.size > 0) {
    // a gated pod may have its node affinity / selector tightened (checked loosely here)
    munged.nodeSelector = oldSpec.nodeSelector;
    munged.affinity = oldSpec.affinity;
  }
  if (!deepEqual(munged, oldSpec)) {
    errs.push(field.forbidden('spec', `pod updates may not change fields other than ${UPDATABLE_POD_SPEC_FIELDS.join(',')}\n${specDiff(oldSpec, munged)}`));
  }
  return errs;
}

/** Whether a container of the spec has a zero-second sleep hook (upstream podLifecycleSleepActionZeroValueInUse). */
function usesZeroSleep(spec: Obj): boolean {
  const containers = [...(Array.isArray(spec.containers) ? spec.containers : []), ...(Array.isArray(spec.initContainers) ? spec.initContainers : [])] as Obj[];
  return containers.some((c) => ['postStart', 'preStop'].some((hook) => isSet(c?.lifecycle?.[hook]?.sleep) && (c.lifecycle[hook].sleep.seconds ?? 0) === 0));
}

/** A short rendering of which spec fields differ (upstream prints a Go cmp.Diff of the structs). */
function specDiff(oldSpec: Obj, newSpec: Obj): string {
  const keys = [...new Set([...Object.keys(oldSpec), ...Object.keys(newSpec)])].filter((k) => !deepEqual(oldSpec[k], newSpec[k]));
  const lines = ['  core.PodSpec{'];
  for (const k of keys) {
    if (oldSpec[k] !== undefined) lines.push(`- \t${k}: ${JSON.stringify(oldSpec[k])},`);
    if (newSpec[k] !== undefined) lines.push(`+ \t${k}: ${JSON.stringify(newSpec[k])},`);
  }
  lines.push('  }');
  return lines.join('\n');
}

/** Pod create validation (spec only). */
export function validatePod(pod: Obj): FieldError[] {
  return validatePodSpec(pod.spec, 'spec');
}
