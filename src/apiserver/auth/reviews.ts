/**
 * The review resources, answered without storage: SelfSubjectAccessReview,
 * SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectRulesReview
 * (authorization.k8s.io/v1), SelfSubjectReview and TokenReview
 * (authentication.k8s.io/v1).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors } from '../../api/errors.js';
import { readBody, sendJson } from '../http.js';
import type { RequestInfo } from '../requestinfo.js';
import type { UserInfo } from '../registry/strategy.js';
import type { Authorizer } from './authorizer.js';
import { decodeBody } from '../handler.js';

const KINDS: Record<string, string> = {
  'authorization.k8s.io/selfsubjectaccessreviews': 'SelfSubjectAccessReview',
  'authorization.k8s.io/subjectaccessreviews': 'SubjectAccessReview',
  'authorization.k8s.io/localsubjectaccessreviews': 'LocalSubjectAccessReview',
  'authorization.k8s.io/selfsubjectrulesreviews': 'SelfSubjectRulesReview',
  'authentication.k8s.io/selfsubjectreviews': 'SelfSubjectReview',
  'authentication.k8s.io/tokenreviews': 'TokenReview',
};

/** Serves the review resources. */
export class ReviewHandler {
  constructor(private readonly authorizer: Authorizer, private readonly tokens: Map<string, UserInfo>) {}

  /** True if the request addresses a review resource. */
  handles(info: RequestInfo): boolean {
    return info.version === 'v1' && `${info.group}/${info.resource}` in KINDS;
  }

  /** Answers a review create. */
  async handle(req: IncomingMessage, res: ServerResponse, info: RequestInfo, user: UserInfo): Promise<void> {
    const kind = KINDS[`${info.group}/${info.resource}`];
    if (info.verb !== 'create') throw errors.methodNotSupported({ group: info.group, resource: info.resource }, info.verb);
    const body = decodeBody(await readBody(req), req.headers['content-type'], kind);
    const apiVersion = `${info.group}/v1`;
    const out: any = { kind, apiVersion, metadata: { creationTimestamp: null }, spec: body.spec ?? {} };
    switch (kind) {
      case 'SelfSubjectAccessReview':
      case 'SubjectAccessReview':
      case 'LocalSubjectAccessReview': {
        const spec = body.spec ?? {};
        const subject: UserInfo =
          kind === 'SelfSubjectAccessReview' ? user : { name: spec.user ?? '', groups: spec.groups ?? [], uid: spec.uid };
        if (kind === 'LocalSubjectAccessReview' && spec.resourceAttributes) spec.resourceAttributes.namespace ??= info.namespace;
        const ra = spec.resourceAttributes;
        const nra = spec.nonResourceAttributes;
        if (!ra && !nra) {
          throw errors.invalid(info.group, kind, '', [
            { type: 'FieldValueRequired', field: 'spec.resourceAttributes', detail: 'exactly one of nonResourceAttributes or resourceAttributes must be specified' },
          ]);
        }
        const d = this.authorizer.authorize(subject, ra
          ? { verb: ra.verb ?? '', group: ra.group ?? '', resource: ra.resource ?? '', subresource: ra.subresource ?? '', namespace: ra.namespace ?? '', name: ra.name ?? '' }
          : { verb: nra.verb ?? '', group: '', resource: '', subresource: '', namespace: '', name: '', path: nra.path ?? '' });
        out.status = d.allowed ? { allowed: true, reason: d.reason } : { allowed: false };
        if (kind === 'LocalSubjectAccessReview') out.metadata.namespace = info.namespace;
        break;
      }
      case 'SelfSubjectRulesReview': {
        const ns = body.spec?.namespace ?? '';
        const rules = this.authorizer.rulesFor(user, ns);
        out.status = {
          resourceRules: rules.filter((r: any) => !r.nonResourceURLs).map((r: any) => ({ verbs: r.verbs ?? [], apiGroups: r.apiGroups, resources: r.resources, resourceNames: r.resourceNames })),
          nonResourceRules: rules.filter((r: any) => r.nonResourceURLs).map((r: any) => ({ verbs: r.verbs ?? [], nonResourceURLs: r.nonResourceURLs })),
          incomplete: false,
        };
        break;
      }
      case 'SelfSubjectReview':
        delete out.spec;
        out.status = { userInfo: { username: user.name, groups: user.groups, ...(user.uid ? { uid: user.uid } : {}) } };
        break;
      case 'TokenReview': {
        const token = body.spec?.token ?? '';
        const u = this.tokens.get(token);
        out.status = u
          ? { authenticated: true, user: { username: u.name, groups: [...u.groups, 'system:authenticated'] }, audiences: body.spec?.audiences ?? [] }
          : { user: {}, error: 'invalid bearer token' };
        break;
      }
    }
    sendJson(res, 201, out);
  }
}
