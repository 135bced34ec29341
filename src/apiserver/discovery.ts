/**
 * API discovery documents, legacy (/api, /apis, /apis/<g>, /<prefix>/<v>) and
 * aggregated (apidiscovery.k8s.io/v2 APIGroupDiscoveryList), built from the
 * served resources.
 */
import { createHash } from 'node:crypto';
import type { ResourceInfo } from '../api/resources.js';
import { compareKubeAwareVersions, groupVersion } from '../api/resources.js';

/** One served group with its versions in preference order. */
interface GroupEntry {
  name: string;
  versions: string[];
}

function groups(resources: readonly ResourceInfo[]): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const r of resources) {
    if (r.group === '') continue;
    let g = out.find((e) => e.name === r.group);
    if (!g) out.push((g = { name: r.group, versions: [] }));
    if (!g.versions.includes(r.version)) g.versions.push(r.version);
  }
  // The first version is the preferred one: upstream lists a group's versions by version priority.
  for (const g of out) g.versions.sort(compareKubeAwareVersions);
  return out;
}

/** storageVersionHash as upstream computes it: base64 of the first 8 bytes of sha256("group/storageVersion/kind"). */
function storageVersionHash(r: ResourceInfo): string {
  return createHash('sha256').update(`${r.group}/${r.storageVersion ?? r.version}/${r.kind}`).digest().subarray(0, 8).toString('base64');
}

/** `/api` (APIVersions). */
export function legacyCoreVersions(serverAddress: string): object {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupObject(g: GroupEntry): object {
  const gvs = g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v }));
  return { name: g.name, versions: gvs, preferredVersion: gvs[0] };
}

/** `/apis` (APIGroupList). */
export function groupList(resources: readonly ResourceInfo[]): object {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups(resources).map(groupObject) };
}

/** `/apis/<group>` (APIGroup), or undefined if not served. */
export function groupDocument(resources: readonly ResourceInfo[], group: string): object | undefined {
  const g = groups(resources).find((e) => e.name === group);
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...groupObject(g) } : undefined;
}

/** `/api/v1` or `/apis/<g>/<v>` (APIResourceList), or undefined if not served. */
export function resourceList(resources: readonly ResourceInfo[], group: string, version: string): object | undefined {
  const rs = resources.filter((r) => r.group === group && r.version === version);
  if (rs.length === 0) return undefined;
  const list: object[] = [];
  for (const r of rs) {
    const entry: Record<string, unknown> = {
      name: r.resource,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
    };
    if (r.shortNames.length) entry.shortNames = r.shortNames;
    if (r.categories.length) entry.categories = r.categories;
    if (r.verbs.length > 1 || r.verbs[0] !== 'create') entry.storageVersionHash = storageVersionHash(r);
    list.push(entry);
    for (const s of r.subresources) {
      const sub: Record<string, unknown> = { name: `${r.resource}/${s.name}`, singularName: '', namespaced: r.namespaced, kind: s.kind, verbs: discoveryVerbs(s) };
      if (s.group !== r.group || s.version !== r.version) {
        sub.group = s.group;
        sub.version = s.version;
      }
      list.push(sub);
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupVersion(group, version), resources: list };
}

/** Media type of aggregated discovery (v2; v2beta1 has the same shape). */
export function aggregatedMediaType(version: 'v2' | 'v2beta1'): string {
  return `application/json;g=apidiscovery.k8s.io;v=${version};as=APIGroupDiscoveryList`;
}

/** Which aggregated discovery version an Accept header asks for first, if any. */
export function wantsAggregated(accept: string | undefined): 'v2' | 'v2beta1' | undefined {
  if (!accept) return undefined;
  for (const part of accept.split(',')) {
    const p = part.replace(/\s+/g, '');
    if (!p.includes('as=APIGroupDiscoveryList') || !p.includes('g=apidiscovery.k8s.io')) continue;
    if (p.includes('v=v2beta1')) return 'v2beta1';
    if (p.includes('v=v2')) return 'v2';
  }
  return undefined;
}

/** Aggregated discovery for `/api` (core=true) or `/apis`. */
export function aggregatedDiscovery(resources: readonly ResourceInfo[], core: boolean, version: 'v2' | 'v2beta1'): object {
  const items: object[] = [];
  const byGroup = new Map<string, ResourceInfo[]>();
  for (const r of resources) {
    if ((r.group === '') !== core) continue;
    if (!byGroup.has(r.group)) byGroup.set(r.group, []);
    byGroup.get(r.group)!.push(r);
  }
  for (const [group, rs] of byGroup) {
    const versions: string[] = [];
    for (const r of rs) if (!versions.includes(r.version)) versions.push(r.version);
    versions.sort(compareKubeAwareVersions);
    items.push({
      metadata: { name: group, creationTimestamp: null },
      versions: versions.map((v) => ({
        version: v,
        resources: rs
          .filter((r) => r.version === v)
          .map((r) => {
            const e: Record<string, unknown> = {
              resource: r.resource,
              responseKind: { group: r.group, version: r.version, kind: r.kind },
              scope: r.namespaced ? 'Namespaced' : 'Cluster',
              singularResource: r.singular,
              verbs: r.verbs,
            };
            if (r.shortNames.length) e.shortNames = r.shortNames;
            if (r.categories.length) e.categories = r.categories;
            if (r.subresources.length) {
              e.subresources = r.subresources.map((s) => ({
                subresource: s.name,
                responseKind: { group: s.group, version: s.version, kind: s.kind },
                verbs: discoveryVerbs(s),
              }));
            }
            return e;
          }),
        freshness: 'Current',
      })),
    });
  }
  return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items };
}

/**
 * The spec names `connect` for the streaming subresources; discovery lists
 * the HTTP verbs they accept, as upstream's installer does: exec, attach and
 * portforward take GET and POST (`create`, `get`), proxy every method.
 */
function discoveryVerbs(s: { name: string; verbs: readonly string[] }): readonly string[] {
  if (!s.verbs.includes('connect')) return s.verbs;
  return s.name === 'proxy' ? ['create', 'delete', 'get', 'patch', 'update'] : ['create', 'get'];
}
