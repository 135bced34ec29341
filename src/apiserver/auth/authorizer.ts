/**
 * Authorization: members of `system:masters` may do anything; everyone else
 * is checked against RBAC (ClusterRoles, Roles and their bindings), read from
 * the API server's own watch cache.
 */
import type { Registry } from '../registry/registry.js';
import type { UserInfo } from '../registry/strategy.js';

/** What a request wants to do. */
export interface Attributes {
  verb: string;
  group: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** For non-resource requests such as /healthz. */
  path?: string;
}

/** An authorization decision. */
export interface Decision {
  allowed: boolean;
  reason: string;
}

/** One RBAC PolicyRule. */
interface PolicyRule {
  verbs?: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** RBAC evaluation over the cached roles and bindings. */
export class Authorizer {
  constructor(private readonly registry: Registry) {}

  private objects(resource: string, namespace = ''): any[] {
    const store = this.registry.lookup('rbac.authorization.k8s.io', 'v1', resource);
    if (!store) return [];
    const cache = this.registry.caches.cache(store.prefix);
    return cache.list(store.listPrefix(namespace)).map((o) => o.obj);
  }

  private role(kind: string, name: string, namespace: string): any | undefined {
    const store = this.registry.lookup('rbac.authorization.k8s.io', 'v1', kind === 'ClusterRole' ? 'clusterroles' : 'roles');
    if (!store) return undefined;
    return this.registry.caches.cache(store.prefix).items.get(store.key(kind === 'ClusterRole' ? '' : namespace, name))?.obj;
  }

  /** Decides one request. */
  authorize(user: UserInfo, a: Attributes): Decision {
    if (user.groups.includes('system:masters')) return { allowed: true, reason: 'system:masters' };
    for (const b of this.objects('clusterrolebindings')) {
      if (!bindsUser(b, user)) continue;
      const r = this.role('ClusterRole', b.roleRef?.name, '');
      if (r && rulesAllow(r.rules, a)) return { allowed: true, reason: `RBAC: allowed by ClusterRoleBinding "${b.metadata.name}"` };
    }
    if (a.namespace) {
      for (const b of this.objects('rolebindings', a.namespace)) {
        if (!bindsUser(b, user)) continue;
        const r = this.role(b.roleRef?.kind, b.roleRef?.name, a.namespace);
        if (r && rulesAllow(r.rules, a)) return { allowed: true, reason: `RBAC: allowed by RoleBinding "${b.metadata.name}/${a.namespace}"` };
      }
    }
    return { allowed: false, reason: '' };
  }

  /** Every rule that applies to the user in a namespace (for SelfSubjectRulesReview). */
  rulesFor(user: UserInfo, namespace: string): PolicyRule[] {
    if (user.groups.includes('system:masters')) {
      return [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, { verbs: ['*'], nonResourceURLs: ['*'] }];
    }
    const out: PolicyRule[] = [];
    for (const b of this.objects('clusterrolebindings')) {
      if (bindsUser(b, user)) out.push(...(this.role('ClusterRole', b.roleRef?.name, '')?.rules ?? []));
    }
    if (namespace) {
      for (const b of this.objects('rolebindings', namespace)) {
        if (bindsUser(b, user)) out.push(...(this.role(b.roleRef?.kind, b.roleRef?.name, namespace)?.rules ?? []));
      }
    }
    return out;
  }
}

function bindsUser(binding: any, user: UserInfo): boolean {
  for (const s of binding?.subjects ?? []) {
    if (s.kind === 'User' && s.name === user.name) return true;
    if (s.kind === 'Group' && user.groups.includes(s.name)) return true;
    if (s.kind === 'ServiceAccount' && user.name === `system:serviceaccount:${s.namespace ?? binding.metadata?.namespace}:${s.name}`) return true;
  }
  return false;
}

function has(list: string[] | undefined, v: string): boolean {
  return !!list && (list.includes('*') || list.includes(v));
}

/** True if any rule allows the request (upstream rbac RuleAllows). */
export function rulesAllow(rules: PolicyRule[] | undefined, a: Attributes): boolean {
  for (const r of rules ?? []) {
    if (!has(r.verbs, a.verb)) continue;
    if (a.path !== undefined) {
      if ((r.nonResourceURLs ?? []).some((u) => u === '*' || u === a.path || (u.endsWith('*') && a.path!.startsWith(u.slice(0, -1))))) return true;
      continue;
    }
    if (!has(r.apiGroups, a.group)) continue;
    const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    const resOk = (r.resources ?? []).some((x) => x === '*' || x === res || (a.subresource && x === `*/${a.subresource}`));
    if (!resOk) continue;
    if (r.resourceNames?.length && !r.resourceNames.includes(a.name)) continue;
    return true;
  }
  return false;
}
