import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildRoutes, hostMatches, pathMatches, route, servedByKite } from './routes.js';

const ing = (name: string, spec: any, created = '2026-01-01T00:00:00Z', namespace = 'default') => ({ metadata: { name, namespace, creationTimestamp: created }, spec });
const svc = (name: string, port = 80) => ({ service: { name, port: { number: port } } });

describe('ingress path matching (networking.k8s.io/v1 rules)', () => {
  it('matches Prefix element by element, ignoring a trailing slash', () => {
    const r = { path: '/foo/', pathType: 'Prefix' as const };
    assert.equal(pathMatches(r, '/foo'), true);
    assert.equal(pathMatches(r, '/foo/'), true);
    assert.equal(pathMatches(r, '/foo/bar'), true);
    assert.equal(pathMatches(r, '/foobar'), false);
    assert.equal(pathMatches({ path: '/', pathType: 'Prefix' }, '/anything/at/all'), true);
  });

  it('matches Exact only on the same path (case and trailing slash count)', () => {
    const r = { path: '/foo', pathType: 'Exact' as const };
    assert.equal(pathMatches(r, '/foo'), true);
    assert.equal(pathMatches(r, '/foo/'), false);
    assert.equal(pathMatches(r, '/FOO'), false);
  });

  it('lets a wildcard host cover exactly one label', () => {
    assert.equal(hostMatches('*.example.com', 'a.example.com'), true);
    assert.equal(hostMatches('*.example.com', 'a.b.example.com'), false);
    assert.equal(hostMatches('*.example.com', 'example.com'), false);
    assert.equal(hostMatches('', 'whatever'), true);
  });
});

describe('ingress routing', () => {
  const table = buildRoutes([
    ing('site', {
      defaultBackend: svc('fallback'),
      rules: [
        { host: 'shop.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: svc('shop') }, { path: '/api', pathType: 'Prefix', backend: svc('api') }] } },
        { host: '*.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: svc('wild') }] } },
        { http: { paths: [{ path: '/v1/models', pathType: 'Prefix', backend: svc('models', 8501) }, { path: '/v1/models', pathType: 'Exact', backend: svc('model-list') }] } },
      ],
    }),
  ]);

  it('prefers the longest matching path, and Exact over Prefix at equal length', () => {
    assert.equal(route(table, 'shop.example.com', '/api/items')?.service, 'api');
    assert.equal(route(table, 'shop.example.com', '/cart')?.service, 'shop');
    assert.equal(route(table, 'any.host', '/v1/models')?.service, 'model-list');
    assert.equal(route(table, 'any.host', '/v1/models/digits:predict')?.service, 'models');
    assert.deepEqual(route(table, 'any.host', '/v1/models/digits:predict')?.port, { number: 8501, name: undefined });
  });

  it('prefers a precise host over a wildcard, ignores the port in Host, and falls back to the default backend', () => {
    assert.equal(route(table, 'SHOP.example.com:8080', '/')?.service, 'shop');
    assert.equal(route(table, 'blog.example.com', '/')?.service, 'wild');
    assert.equal(route(table, 'other.org', '/nothing')?.service, 'fallback');
    assert.equal(route(buildRoutes([]), 'x', '/'), undefined);
  });

  it('lets the oldest Ingress win a tie between Ingresses', () => {
    const t = buildRoutes([
      ing('newer', { rules: [{ http: { paths: [{ path: '/', pathType: 'Prefix', backend: svc('b') }] } }] }, '2026-02-01T00:00:00Z'),
      ing('older', { rules: [{ http: { paths: [{ path: '/', pathType: 'Prefix', backend: svc('a') }] } }] }, '2026-01-01T00:00:00Z'),
    ]);
    assert.equal(route(t, 'h', '/x')?.service, 'a');
  });

  it('serves Ingresses of class kite, and those without a class while kite is the default', () => {
    assert.equal(servedByKite(ing('a', { ingressClassName: 'kite' }), false), true);
    assert.equal(servedByKite(ing('b', { ingressClassName: 'nginx' }), true), false);
    assert.equal(servedByKite(ing('c', {}), true), true);
    assert.equal(servedByKite(ing('d', {}), false), false);
    assert.equal(servedByKite({ metadata: { annotations: { 'kubernetes.io/ingress.class': 'kite' } }, spec: {} }, false), true);
  });
});
