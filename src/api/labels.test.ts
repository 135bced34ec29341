import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, fieldErrorMessage } from './errors.js';
import type { LabelSelector as MetaLabelSelector } from './generated/types.js';
import {
  parseLabelSelector,
  selectorFromLabelSelector,
  selectorFromSet,
  matchesNothing,
  validateLabels,
  validateLabelSelector,
  validateQualifiedName,
  validateLabelValue,
} from './labels.js';

const NAME_PART_REGEX =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_REGEX =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

/** Asserts that parsing fails with a 400 BadRequest carrying exactly `message`. */
function parseFails(s: string, message: string): void {
  assert.throws(
    () => parseLabelSelector(s),
    (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.code, 400);
      assert.equal(e.reason, 'BadRequest');
      assert.equal(e.message, message);
      return true;
    },
    s,
  );
}

test('parses every operator of the string syntax into canonical requirements', () => {
  const sel = parseLabelSelector('tier in (web,db),env!=prod, !legacy ,app==nginx,gpu,size>3,rank<10,zone notin (a),x=y');
  assert.deepEqual(
    sel.requirements.map((r) => [r.key, r.operator, r.values]),
    [
      ['app', '==', ['nginx']],
      ['env', '!=', ['prod']],
      ['gpu', 'exists', []],
      ['legacy', '!', []],
      ['rank', 'lt', ['10']],
      ['size', 'gt', ['3']],
      ['tier', 'in', ['db', 'web']],
      ['x', '=', ['y']],
      ['zone', 'notin', ['a']],
    ],
  );
  assert.equal(sel.toString(), 'app==nginx,env!=prod,gpu,!legacy,rank<10,size>3,tier in (db,web),x=y,zone notin (a)');
});

test('the empty string selects everything', () => {
  const sel = parseLabelSelector('');
  assert.ok(sel.empty());
  assert.ok(sel.matches(undefined));
  assert.ok(sel.matches({ a: 'b' }));
  assert.equal(sel.toString(), '');
});

test('whitespace around tokens is ignored; empty values are allowed', () => {
  assert.equal(parseLabelSelector('  a =  b ,\tc\n').toString(), 'a=b,c');
  assert.equal(parseLabelSelector('a=').toString(), 'a=');
  assert.deepEqual(parseLabelSelector('a in ()').requirements[0].values, ['']);
  assert.deepEqual(parseLabelSelector('a in (,x)').requirements[0].values, ['', 'x']);
  assert.deepEqual(parseLabelSelector('a in (x,,y)').requirements[0].values, ['', 'x', 'y']);
  // `in` and `notin` are ordinary words where a key or value is expected.
  assert.equal(parseLabelSelector('in in (in,notin)').toString(), 'in in (in,notin)');
});

test('prefixed keys parse and keep their prefix', () => {
  const sel = parseLabelSelector('app.kubernetes.io/name=web');
  assert.ok(sel.matches({ 'app.kubernetes.io/name': 'web' }));
  assert.equal(sel.requiresExactMatch('app.kubernetes.io/name'), 'web');
});

test('syntax errors carry the API server message text', () => {
  parseFails('a b', "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt");
  parseFails('a in', "unable to parse requirement: found '' expected: '('");
  parseFails('a in (x', "unable to parse requirement: found '', expected: ',' or ')'");
  parseFails('a in (x y)', "unable to parse requirement: found 'y', expected: ',' or ')'");
  parseFails('a in ((', "unable to parse requirement: found '(', expected: ',', ')' or identifier");
  parseFails('a in (x,,)', "unable to parse requirement: found ')', expected: ',', or identifier");
  parseFails('!', "unable to parse requirement: found '', expected: identifier");
  parseFails('a=!', "unable to parse requirement: found '!', expected: identifier");
  parseFails('a=b c', "found 'c', expected: ',' or 'end of string'");
  parseFails('!a=b', "found '=', expected: ',' or 'end of string'");
  parseFails('a=b,', "found '', expected: identifier after ','");
  parseFails(',a', "found ',', expected: !, identifier, or 'end of string'");
});

test('invalid keys and values are rejected with upstream field error text', () => {
  parseFails('a@b=c', `unable to parse requirement: <nil>: Invalid value: "a@b": ${NAME_PART_REGEX}`);
  parseFails('a=b@c', `unable to parse requirement: values[0][a]: Invalid value: "b@c": ${LABEL_VALUE_REGEX}`);
  parseFails('a>b', `unable to parse requirement: values[0]: Invalid value: "b": for 'Gt', 'Lt' operators, the value must be an integer`);
  parseFails('a<', `unable to parse requirement: values[0]: Invalid value: "": for 'Gt', 'Lt' operators, the value must be an integer`);
  parseFails(`a=${'v'.repeat(64)}`, `unable to parse requirement: values[0][a]: Invalid value: "${'v'.repeat(64)}": must be no more than 63 characters`);
});

test('!= and notin match objects without the label; = and in do not', () => {
  const none = {};
  assert.equal(parseLabelSelector('env!=prod').matches(none), true);
  assert.equal(parseLabelSelector('env notin (prod)').matches(none), true);
  assert.equal(parseLabelSelector('env=prod').matches(none), false);
  assert.equal(parseLabelSelector('env in (prod)').matches(none), false);
  assert.equal(parseLabelSelector('env!=prod').matches({ env: 'prod' }), false);
  assert.equal(parseLabelSelector('env notin (prod,qa)').matches({ env: 'qa' }), false);
  assert.equal(parseLabelSelector('env notin (prod,qa)').matches({ env: 'dev' }), true);
  assert.equal(parseLabelSelector('env in (prod,qa)').matches({ env: 'qa' }), true);
  assert.equal(parseLabelSelector('env!=prod').matches(undefined), true);
});

test('exists and does-not-exist look only at presence', () => {
  assert.equal(parseLabelSelector('gpu').matches({ gpu: '' }), true);
  assert.equal(parseLabelSelector('gpu').matches({}), false);
  assert.equal(parseLabelSelector('!gpu').matches({ gpu: '' }), false);
  assert.equal(parseLabelSelector('!gpu').matches({}), true);
  // Inherited object properties are not labels.
  assert.equal(parseLabelSelector('constructor').matches({}), false);
  assert.equal(parseLabelSelector('!toString').matches({}), true);
});

test('gt and lt compare integers and never match missing or non-numeric labels', () => {
  const gt = parseLabelSelector('replicas>3');
  assert.equal(gt.matches({ replicas: '4' }), true);
  assert.equal(gt.matches({ replicas: '3' }), false);
  assert.equal(gt.matches({ replicas: 'many' }), false);
  assert.equal(gt.matches({}), false);
  const lt = parseLabelSelector('replicas<10');
  assert.equal(lt.matches({ replicas: '9' }), true);
  assert.equal(lt.matches({ replicas: '10' }), false);
  // int64 range, not float: one past the largest int64 is not a number to Go.
  assert.equal(parseLabelSelector('n>9223372036854775806').matches({ n: '9223372036854775807' }), true);
  assert.equal(parseLabelSelector('n>1').matches({ n: '9223372036854775808' }), false);
});

test('all requirements must hold', () => {
  const sel = parseLabelSelector('app=web,tier in (fe,be),!canary');
  assert.equal(sel.matches({ app: 'web', tier: 'fe' }), true);
  assert.equal(sel.matches({ app: 'web', tier: 'fe', canary: 'true' }), false);
  assert.equal(sel.matches({ app: 'api', tier: 'fe' }), false);
});

test('requiresExactMatch reports a single demanded value only', () => {
  assert.equal(parseLabelSelector('a=b,c=d').requiresExactMatch('c'), 'd');
  assert.equal(parseLabelSelector('a in (x)').requiresExactMatch('a'), 'x');
  assert.equal(parseLabelSelector('a in (x,y)').requiresExactMatch('a'), undefined);
  assert.equal(parseLabelSelector('a!=b').requiresExactMatch('a'), undefined);
});

test('selectorFromLabelSelector: null matches nothing, {} matches everything', () => {
  const none = selectorFromLabelSelector(null);
  assert.equal(none.matches({ a: 'b' }), false);
  assert.equal(none.matches({}), false);
  assert.equal(none.empty(), false);
  assert.equal(none.selectable, false);
  assert.ok(matchesNothing(none));
  assert.ok(matchesNothing(selectorFromLabelSelector(undefined)));

  const all = selectorFromLabelSelector({});
  assert.equal(all.matches({}), true);
  assert.equal(all.empty(), true);
  assert.equal(all.selectable, true);
  assert.equal(selectorFromLabelSelector({ matchLabels: {}, matchExpressions: [] }).empty(), true);
});

test('selectorFromLabelSelector combines matchLabels and matchExpressions, sorted by key', () => {
  // Typed as the generated metav1.LabelSelector, so the two shapes cannot drift apart.
  const spec: MetaLabelSelector = {
    matchLabels: { 'job-name': 'train', app: 'pytorch' },
    matchExpressions: [
      { key: 'role', operator: 'In', values: ['worker', 'master'] },
      { key: 'zone', operator: 'NotIn', values: ['b'] },
      { key: 'gpu', operator: 'Exists' },
      { key: 'spot', operator: 'DoesNotExist', values: [] },
    ],
  };
  const sel = selectorFromLabelSelector(spec);
  assert.equal(sel.toString(), 'app=pytorch,gpu,job-name=train,role in (master,worker),!spot,zone notin (b)');
  assert.equal(sel.matches({ app: 'pytorch', 'job-name': 'train', role: 'worker', gpu: '1' }), true);
  assert.equal(sel.matches({ app: 'pytorch', 'job-name': 'train', role: 'worker' }), false);
  assert.equal(sel.matches({ app: 'pytorch', 'job-name': 'train', role: 'worker', gpu: '1', spot: 'y' }), false);
  assert.equal(sel.matches({ app: 'pytorch', 'job-name': 'train', role: 'worker', gpu: '1', zone: 'b' }), false);
});

test('selectorFromLabelSelector rejects unknown operators and bad requirements', () => {
  assert.throws(
    () => selectorFromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }),
    { code: 400, message: '"Gt" is not a valid label selector operator' },
  );
  assert.throws(
    () => selectorFromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }),
    { message: "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty" },
  );
  assert.throws(
    () => selectorFromLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }),
    { message: 'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist' },
  );
  assert.throws(() => selectorFromLabelSelector({ matchLabels: { 'bad key': 'v' } }), {
    message: `key: Invalid value: "bad key": ${NAME_PART_REGEX}`,
  });
});

test('selectorFromSet selects exactly the set, and an empty set everything', () => {
  const sel = selectorFromSet({ b: '2', a: '1' });
  assert.equal(sel.toString(), 'a=1,b=2');
  assert.equal(sel.matches({ a: '1', b: '2', c: '3' }), true);
  assert.equal(sel.matches({ a: '1' }), false);
  assert.equal(selectorFromSet({}).empty(), true);
  assert.equal(selectorFromSet(undefined).matches({}), true);
});

test('validateQualifiedName: prefix and name rules with upstream details', () => {
  assert.deepEqual(validateQualifiedName('example.com/my-name_1.x', 'k'), []);
  assert.deepEqual(
    validateQualifiedName('-bad', 'metadata.labels').map(fieldErrorMessage),
    [`metadata.labels: Invalid value: "-bad": ${NAME_PART_REGEX}`],
  );
  assert.deepEqual(validateQualifiedName('/x', 'k').map((e) => e.detail), ['prefix part must be non-empty']);
  assert.deepEqual(validateQualifiedName('Example.com/x', 'k').map((e) => e.detail), [
    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
  ]);
  assert.deepEqual(validateQualifiedName('a/', 'k').map((e) => e.detail), ['name part must be non-empty', NAME_PART_REGEX]);
  assert.deepEqual(validateQualifiedName('x'.repeat(64), 'k').map((e) => e.detail), ['name part must be no more than 63 characters']);
  assert.deepEqual(validateQualifiedName(`${'a'.repeat(254)}/x`, 'k').map((e) => e.detail), ['prefix part must be no more than 253 characters']);
  assert.deepEqual(validateQualifiedName('a/b/c', 'k').map((e) => e.detail), [
    "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
  ]);
});

test('validateLabelValue: empty is valid, length and characters are limited', () => {
  assert.deepEqual(validateLabelValue('', 'v'), []);
  assert.deepEqual(validateLabelValue('A-b_c.9', 'v'), []);
  assert.deepEqual(validateLabelValue('a b', 'v').map((e) => e.detail), [LABEL_VALUE_REGEX]);
  assert.deepEqual(validateLabelValue('a'.repeat(64), 'v').map((e) => e.detail), ['must be no more than 63 characters']);
});

test('validateLabels reports key and value problems at the labels path', () => {
  const errs = validateLabels({ good: 'ok', 'bad key': 'ok', k: 'bad value' }, 'metadata.labels');
  assert.deepEqual(errs.map(fieldErrorMessage), [
    `metadata.labels: Invalid value: "bad key": ${NAME_PART_REGEX}`,
    `metadata.labels: Invalid value: "bad value": ${LABEL_VALUE_REGEX}`,
  ]);
  assert.deepEqual(validateLabels(undefined, 'metadata.labels'), []);
});

test('validateLabelSelector checks operators, values and keys', () => {
  assert.deepEqual(validateLabelSelector(null, 'spec.selector'), []);
  const errs = validateLabelSelector(
    {
      matchLabels: { app: 'web!' },
      matchExpressions: [
        { key: 'a', operator: 'In', values: [] },
        { key: 'b', operator: 'Exists', values: ['x'] },
        { key: 'c', operator: 'Gt', values: ['1'] },
        { key: 'd/e/f', operator: 'NotIn', values: ['ok', 'no way'] },
      ],
    },
    'spec.selector',
  );
  assert.deepEqual(errs.map(fieldErrorMessage), [
    `spec.selector.matchLabels: Invalid value: "web!": ${LABEL_VALUE_REGEX}`,
    "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
    "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
    'spec.selector.matchExpressions[2].operator: Invalid value: "Gt": not a valid selector operator',
    "spec.selector.matchExpressions[3].key: Invalid value: \"d/e/f\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    `spec.selector.matchExpressions[3].values[1]: Invalid value: "no way": ${LABEL_VALUE_REGEX}`,
  ]);
  assert.deepEqual(
    validateLabelSelector({ matchExpressions: [{ key: 'c', operator: 'Gt', values: ['no way'] }] }, 's', {
      allowUnknownOperatorInRequirement: true,
      allowInvalidLabelValueInSelector: true,
    }),
    [],
  );
});
