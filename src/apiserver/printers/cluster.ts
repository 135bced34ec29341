/**
 * Printers for networking, RBAC, coordination, discovery, events, scheduling,
 * storage, admission, certificates, node and flowcontrol kinds, following
 * upstream 1.32 pkg/printers/internalversion/printers.go.
 */

import { coreEventFields, EVENT_COLUMNS, eventRow, loadBalancerIngress, type EventFields } from './core.js';
import { arr, creationAge, formatLabelSelector, humanDuration, int, listWithMore, nameOf, quantityString, rec, str } from './format.js';
import { AGE_COLUMN, col, NAME_COLUMN, type KindPrinter } from './table.js';

const present = (v: unknown): boolean => v !== undefined && v !== null;

function ingressHosts(rules: unknown): string {
  const all = arr(rules).map(rec);
  const list: string[] = [];
  const max = 3;
  let more = false;
  for (const rule of all) {
    if (list.length === max) more = true;
    if (!more && str(rule.host) !== '') list.push(str(rule.host));
  }
  if (list.length === 0) return '*';
  const ret = list.join(',');
  return more ? `${ret} + ${all.length - max} more...` : ret;
}

/** The Ingress printer: CLASS, HOSTS, ADDRESS, PORTS ("80" or "80, 443" with TLS). */
export const ingressPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Class', 'string', 'The name of the IngressClass resource that should be used for additional configuration'),
    col('Hosts', 'string', 'Hosts that incoming requests are matched against before the ingress rule'),
    col('Address', 'string', 'Address is a list containing ingress points for the load-balancer'),
    col('Ports', 'string', 'Ports of TLS configurations that open'),
    AGE_COLUMN,
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    const className = typeof spec.ingressClassName === 'string' ? spec.ingressClassName : '<none>';
    const address = loadBalancerIngress(rec(rec(rec(obj).status).loadBalancer));
    const ports = arr(spec.tls).length !== 0 ? '80, 443' : '80';
    return [nameOf(obj), className, ingressHosts(spec.rules), address, ports, creationAge(obj, now)];
  },
};

/** The IngressClass printer: CONTROLLER, PARAMETERS as `Kind.group/name`. */
export const ingressClassPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Controller', 'string', 'Controller that is responsible for handling this class'),
    col('Parameters', 'string', 'A reference to a resource with additional parameters'),
    AGE_COLUMN,
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    let parameters = '<none>';
    if (present(spec.parameters)) {
      const p = rec(spec.parameters);
      parameters = str(p.kind);
      if (present(p.apiGroup)) parameters += `.${str(p.apiGroup)}`;
      parameters += `/${str(p.name)}`;
    }
    return [nameOf(obj), str(spec.controller), parameters, creationAge(obj, now)];
  },
};

/** The NetworkPolicy printer: POD-SELECTOR. */
export const networkPolicyPrinter: KindPrinter = {
  columns: [NAME_COLUMN, col('Pod-Selector', 'string', 'Selects the pods the policy applies to.'), AGE_COLUMN],
  row: (obj, now) => [nameOf(obj), formatLabelSelector(rec(rec(obj).spec).podSelector ?? {}), creationAge(obj, now)],
};

/** The ServiceCIDR printer. */
export const serviceCIDRPrinter: KindPrinter = {
  columns: [NAME_COLUMN, col('CIDRs', 'string', 'The service IP ranges.'), AGE_COLUMN],
  row: (obj, now) => [nameOf(obj), arr(rec(rec(obj).spec).cidrs).map(str).join(','), creationAge(obj, now)],
};

/** The IPAddress printer: PARENTREF as `resource.group/namespace/name`. */
export const ipAddressPrinter: KindPrinter = {
  columns: [NAME_COLUMN, col('ParentRef', 'string', 'The object this IP address is allocated to.')],
  // Upstream appends an age cell without a matching column; the table keeps cells and columns aligned.
  row: (obj) => {
    const ref = rec(rec(obj).spec).parentRef;
    let parent = '<none>';
    if (present(ref)) {
      const r = rec(ref);
      const group = str(r.group);
      parent = (group === '' ? str(r.resource) : `${str(r.resource)}.${group}`).toLowerCase();
      if (str(r.namespace) !== '') parent += `/${str(r.namespace)}`;
      parent += `/${str(r.name)}`;
    }
    return [nameOf(obj), parent];
  },
};

function subjectsCells(subjects: unknown): [string, string, string] {
  // rbac.SubjectsStrings: users, groups, and service accounts as namespace/name.
  const users: string[] = [];
  const groups: string[] = [];
  const sas: string[] = [];
  for (const s of arr(subjects).map(rec)) {
    if (s.kind === 'ServiceAccount') sas.push(`${str(s.namespace)}/${str(s.name)}`);
    else if (s.kind === 'User') users.push(str(s.name));
    else if (s.kind === 'Group') groups.push(str(s.name));
  }
  return [users.join(', '), groups.join(', '), sas.join(', ')];
}

function bindingPrinter(what: string): KindPrinter {
  return {
    columns: [
      NAME_COLUMN,
      col('Role', 'string', 'The role the subjects are bound to, as Kind/name.'),
      AGE_COLUMN,
      col('Users', 'string', `Users in the ${what}`, { priority: 1 }),
      col('Groups', 'string', `Groups in the ${what}`, { priority: 1 }),
      col('ServiceAccounts', 'string', `ServiceAccounts in the ${what}`, { priority: 1 }),
    ],
    row: (obj, now) => {
      const roleRef = rec(rec(obj).roleRef);
      return [nameOf(obj), `${str(roleRef.kind)}/${str(roleRef.name)}`, creationAge(obj, now), ...subjectsCells(rec(obj).subjects)];
    },
  };
}

/** The RoleBinding printer: ROLE as `Kind/name`, wide USERS/GROUPS/SERVICEACCOUNTS. */
export const roleBindingPrinter: KindPrinter = bindingPrinter('roleBinding');

/** The ClusterRoleBinding printer: ROLE as `Kind/name`, wide USERS/GROUPS/SERVICEACCOUNTS. */
export const clusterRoleBindingPrinter: KindPrinter = bindingPrinter('clusterRoleBinding');

/** The Lease printer: HOLDER. */
export const leasePrinter: KindPrinter = {
  columns: [NAME_COLUMN, col('Holder', 'string', 'Identity of the current holder of the lease.'), AGE_COLUMN],
  row: (obj, now) => [nameOf(obj), str(rec(rec(obj).spec).holderIdentity), creationAge(obj, now)],
};

/** The EndpointSlice printer: ADDRESSTYPE, PORTS, ENDPOINTS (three at most, then "+ N more..."). */
export const endpointSlicePrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('AddressType', 'string', 'The type of addresses in the slice (IPv4, IPv6, FQDN).'),
    col('Ports', 'string', 'The ports of the endpoints.'),
    col('Endpoints', 'string', 'The addresses of the endpoints.'),
    AGE_COLUMN,
  ],
  row: (obj, now) => {
    const max = 3;
    const ports: string[] = [];
    let portCount = 0;
    let portsMore = false;
    for (const p of arr(rec(obj).ports).map(rec)) {
      if (ports.length < max) ports.push(typeof p.port === 'number' ? String(int(p.port)) : typeof p.name === 'string' ? p.name : '*');
      else if (ports.length === max) portsMore = true;
      portCount++;
    }
    const addresses: string[] = [];
    let addrCount = 0;
    let addrMore = false;
    for (const e of arr(rec(obj).endpoints).map(rec)) {
      for (const a of arr(e.addresses)) {
        if (addresses.length < max) addresses.push(str(a));
        else if (addresses.length === max) addrMore = true;
        addrCount++;
      }
    }
    return [
      nameOf(obj),
      str(rec(obj).addressType),
      listWithMore(ports, portsMore, portCount, max),
      listWithMore(addresses, addrMore, addrCount, max),
      creationAge(obj, now),
    ];
  },
};

/**
 * An events.k8s.io/v1 Event's fields. The API server prints both Event APIs
 * from one internal type, so the table is the core one; core field names are
 * accepted too in case the object is stored in the core shape.
 */
function eventsV1Fields(obj: any): EventFields {
  const e = rec(obj);
  if (!present(e.regarding) && !present(e.note) && present(e.involvedObject)) return coreEventFields(obj);
  const regarding = rec(e.regarding);
  const source = rec(e.deprecatedSource);
  const series = present(e.series) ? rec(e.series) : undefined;
  return {
    name: nameOf(obj),
    type: str(e.type),
    reason: str(e.reason),
    message: str(e.note),
    kind: str(regarding.kind),
    objectName: str(regarding.name),
    fieldPath: str(regarding.fieldPath),
    component: str(source.component),
    host: str(source.host),
    reportingController: str(e.reportingController),
    reportingInstance: str(e.reportingInstance),
    firstTimestamp: e.deprecatedFirstTimestamp,
    lastTimestamp: e.deprecatedLastTimestamp,
    eventTime: e.eventTime,
    count: int(e.deprecatedCount),
    series: series ? { count: int(series.count), lastObservedTime: series.lastObservedTime } : undefined,
  };
}

/** The events.k8s.io/v1 Event printer: the same table as core Events. */
export const eventsV1EventPrinter: KindPrinter = {
  columns: EVENT_COLUMNS,
  row: (obj, now) => eventRow(eventsV1Fields(obj), now),
};

/** The PriorityClass printer: VALUE, GLOBAL-DEFAULT (a boolean cell), PREEMPTIONPOLICY. */
export const priorityClassPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Value', 'integer', 'The priority value.'),
    col('Global-Default', 'boolean', 'Whether this is the default priority class for pods without one.'),
    AGE_COLUMN,
    col('PreemptionPolicy', 'string', 'Whether pods of this class may preempt lower-priority pods.'),
  ],
  row: (obj, now) => {
    const o = rec(obj);
    return [nameOf(obj), int(o.value), o.globalDefault === true, creationAge(obj, now), str(o.preemptionPolicy)];
  },
};

const DEFAULT_CLASS_ANNOTATIONS = ['storageclass.kubernetes.io/is-default-class', 'storageclass.beta.kubernetes.io/is-default-class'];

/** The StorageClass printer: NAME gets " (default)" for the default class; defaults for unset policies. */
export const storageClassPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Provisioner', 'string', 'The volume plugin that provisions volumes of this class.'),
    col('ReclaimPolicy', 'string', 'Reclaim policy of dynamically provisioned volumes.'),
    col('VolumeBindingMode', 'string', 'When volumes are bound and provisioned.'),
    col('AllowVolumeExpansion', 'string', 'Whether volumes of this class can be expanded.'),
    AGE_COLUMN,
  ],
  row: (obj, now) => {
    const o = rec(obj);
    const annotations = rec(rec(o.metadata).annotations);
    let name = nameOf(obj);
    if (DEFAULT_CLASS_ANNOTATIONS.some((a) => annotations[a] === 'true')) name += ' (default)';
    return [
      name,
      str(o.provisioner),
      typeof o.reclaimPolicy === 'string' ? o.reclaimPolicy : 'Delete',
      typeof o.volumeBindingMode === 'string' ? o.volumeBindingMode : 'Immediate',
      o.allowVolumeExpansion === true,
      creationAge(obj, now),
    ];
  },
};

/** The VolumeAttachment printer. */
export const volumeAttachmentPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Attacher', 'string', 'The driver that attaches the volume.', { format: 'name' }),
    col('PV', 'string', 'The persistent volume being attached.'),
    col('Node', 'string', 'The node the volume is attached to.'),
    col('Attached', 'boolean', 'Whether the attach operation succeeded.'),
    AGE_COLUMN,
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    return [nameOf(obj), str(spec.attacher), str(rec(spec.source).persistentVolumeName), str(spec.nodeName), rec(rec(obj).status).attached === true, creationAge(obj, now)];
  },
};

/** The CSIDriver printer. */
export const csiDriverPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('AttachRequired', 'boolean', 'Whether volumes need an attach operation.'),
    col('PodInfoOnMount', 'boolean', 'Whether pod information is passed on mount.'),
    col('StorageCapacity', 'boolean', 'Whether the driver reports storage capacity.'),
    col('TokenRequests', 'string', 'Audiences of service account tokens passed to the driver.'),
    col('RequiresRepublish', 'boolean', 'Whether NodePublishVolume is called periodically.'),
    col('Modes', 'string', 'Volume lifecycle modes the driver supports.'),
    AGE_COLUMN,
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    const tokenRequests = Array.isArray(spec.tokenRequests) ? spec.tokenRequests.map((t: unknown) => str(rec(t).audience)).join(',') : '<unset>';
    const modes = arr(spec.volumeLifecycleModes).map(str).join(',') || '<none>';
    return [
      nameOf(obj),
      spec.attachRequired !== false,
      spec.podInfoOnMount === true,
      spec.storageCapacity === true,
      tokenRequests,
      spec.requiresRepublish === true,
      modes,
      creationAge(obj, now),
    ];
  },
};

/** The CSINode printer: DRIVERS is the number of registered drivers. */
export const csiNodePrinter: KindPrinter = {
  columns: [NAME_COLUMN, col('Drivers', 'integer', 'Drivers indicates the number of CSI drivers registered on the node'), AGE_COLUMN],
  row: (obj, now) => [nameOf(obj), arr(rec(rec(obj).spec).drivers).length, creationAge(obj, now)],
};

/** The CSIStorageCapacity printer. */
export const csiStorageCapacityPrinter: KindPrinter = {
  columns: [NAME_COLUMN, col('StorageClassName', 'string', 'The storage class the capacity applies to.'), col('Capacity', 'string', 'The reported capacity.')],
  row: (obj) => {
    const o = rec(obj);
    return [nameOf(obj), str(o.storageClassName), present(o.capacity) ? quantityString(o.capacity) : '<unset>'];
  },
};

function webhookConfigurationPrinter(): KindPrinter {
  return {
    columns: [NAME_COLUMN, col('Webhooks', 'integer', 'Webhooks indicates the number of webhooks registered in this configuration'), AGE_COLUMN],
    row: (obj, now) => [nameOf(obj), arr(rec(obj).webhooks).length, creationAge(obj, now)],
  };
}

/** The MutatingWebhookConfiguration printer: WEBHOOKS count. */
export const mutatingWebhookConfigurationPrinter: KindPrinter = webhookConfigurationPrinter();

/** The ValidatingWebhookConfiguration printer: WEBHOOKS count. */
export const validatingWebhookConfigurationPrinter: KindPrinter = webhookConfigurationPrinter();

/** The ValidatingAdmissionPolicy printer: VALIDATIONS count and PARAMKIND. */
export const validatingAdmissionPolicyPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Validations', 'integer', 'Validations indicates the number of validation rules defined in this configuration'),
    col('ParamKind', 'string', 'ParamKind specifies the kind of resources used to parameterize this policy'),
    AGE_COLUMN,
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    const paramKind = present(spec.paramKind) ? `${str(rec(spec.paramKind).apiVersion)}/${str(rec(spec.paramKind).kind)}` : '<unset>';
    return [nameOf(obj), arr(spec.validations).length, paramKind, creationAge(obj, now)];
  },
};

/** The ValidatingAdmissionPolicyBinding printer: POLICYNAME and PARAMREF. */
export const validatingAdmissionPolicyBindingPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('PolicyName', 'string', 'PolicyName indicates the policy definition which the policy binding binded to'),
    col('ParamRef', 'string', 'ParamRef indicates the param resource which sets the configration param'),
    AGE_COLUMN,
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    let param = '<unset>';
    if (present(spec.paramRef)) {
      const pr = rec(spec.paramRef);
      if (str(pr.name) !== '') {
        // Without a namespace the param may be cluster-scoped or in any namespace: "*/name".
        param = str(pr.namespace) !== '' ? `${str(pr.namespace)}/${str(pr.name)}` : `*/${str(pr.name)}`;
      } else if (present(pr.selector)) {
        // Upstream prints the Go struct dump of the selector; the selector syntax carries the same facts.
        param = formatLabelSelector(pr.selector);
      }
    }
    return [nameOf(obj), str(spec.policyName), param, creationAge(obj, now)];
  },
};

/** The CertificateSigningRequest printer: SIGNERNAME, REQUESTOR, REQUESTEDDURATION, CONDITION. */
export const certificateSigningRequestPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    AGE_COLUMN,
    col('SignerName', 'string', 'The signer the request is addressed to.'),
    col('Requestor', 'string', 'The user that created the request.'),
    col('RequestedDuration', 'string', 'The requested validity duration of the certificate.'),
    col('Condition', 'string', 'Approved, Denied or Pending, plus Failed and Issued.'),
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    const status = rec(rec(obj).status);
    const types = new Set(arr(status.conditions).map((c) => rec(c).type));
    let condition = types.has('Denied') ? 'Denied' : types.has('Approved') ? 'Approved' : 'Pending';
    if (types.has('Failed')) condition += ',Failed';
    if (str(status.certificate) !== '') condition += ',Issued';
    const duration = typeof spec.expirationSeconds === 'number' ? humanDuration(int(spec.expirationSeconds) * 1000) : '<none>';
    return [nameOf(obj), creationAge(obj, now), str(spec.signerName) || '<none>', str(spec.username), duration, condition];
  },
};

/** The RuntimeClass printer: HANDLER. */
export const runtimeClassPrinter: KindPrinter = {
  columns: [NAME_COLUMN, col('Handler', 'string', 'The CRI handler that runs pods of this class.'), AGE_COLUMN],
  row: (obj, now) => [nameOf(obj), str(rec(obj).handler), creationAge(obj, now)],
};

/** The FlowSchema printer. */
export const flowSchemaPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('PriorityLevel', 'string', 'The priority level requests of this schema are assigned to.'),
    col('MatchingPrecedence', 'string', 'Lower values match first.'),
    col('DistinguisherMethod', 'string', 'How flows are distinguished.'),
    AGE_COLUMN,
    col('MissingPL', 'string', 'references a broken or non-existent PriorityLevelConfiguration'),
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    const dangling = arr(rec(rec(obj).status).conditions).find((c) => rec(c).type === 'Dangling');
    return [
      nameOf(obj),
      str(rec(spec.priorityLevelConfiguration).name),
      int(spec.matchingPrecedence),
      present(spec.distinguisherMethod) ? str(rec(spec.distinguisherMethod).type) : '<none>',
      creationAge(obj, now),
      dangling ? str(rec(dangling).status) : '?',
    ];
  },
};

/** The PriorityLevelConfiguration printer. */
export const priorityLevelConfigurationPrinter: KindPrinter = {
  columns: [
    NAME_COLUMN,
    col('Type', 'string', 'Exempt or Limited.'),
    col('NominalConcurrencyShares', 'string', 'Share of the server concurrency limit.'),
    col('Queues', 'string', 'Number of queues.'),
    col('HandSize', 'string', 'Queues a flow is shuffle-sharded onto.'),
    col('QueueLengthLimit', 'string', 'Maximum requests waiting in one queue.'),
    AGE_COLUMN,
  ],
  row: (obj, now) => {
    const spec = rec(rec(obj).spec);
    let ncs: unknown = '<none>';
    let queues: unknown = '<none>';
    let handSize: unknown = '<none>';
    let queueLengthLimit: unknown = '<none>';
    if (present(spec.limited)) {
      const limited = rec(spec.limited);
      ncs = int(limited.nominalConcurrencyShares);
      const queuing = rec(limited.limitResponse).queuing;
      if (present(queuing)) {
        queues = int(rec(queuing).queues);
        handSize = int(rec(queuing).handSize);
        queueLengthLimit = int(rec(queuing).queueLengthLimit);
      }
    }
    return [nameOf(obj), str(spec.type), ncs, queues, handSize, queueLengthLimit, creationAge(obj, now)];
  },
};
