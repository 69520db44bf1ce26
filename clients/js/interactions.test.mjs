// What an EHR integration or a SMART backend client uses after the basics:
// SMART discovery, PATCH, conditional update and delete, conditional read,
// Prefer, formats, _include and _revinclude, _elements and _summary, POST
// _search, $everything's parameters, Provenance by id and a system-level
// bulk export whose every ndjson line is valid R4. Every FHIR response body
// is validated as R4.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  base, env, expectOutcome, LOINC, observation, rawFHIR, signIn, skipUnconfigured, STEP,
} from './carechain.mjs';
import { expectValid } from './fhir-validate.mjs';

describe('an integrator uses conditional writes, PATCH, includes and bulk export', { skip: skipUnconfigured }, () => {
  const patient = env.CARECHAIN_PATIENT;
  const tag = randomUUID();
  const ident = `urn:example:interactions|${tag}`;
  let dr;
  let obsId;
  const fhir = (method, path, opts = {}) => rawFHIR(method, path, { accessToken: dr.accessToken, ...opts });

  it('discovers the SMART configuration', STEP, async () => {
    dr = await signIn('DR');
    const res = await fetch(`${base}/.well-known/smart-configuration`);
    assert.equal(res.status, 200);
    const conf = await res.json();
    assert.equal(conf.token_endpoint, env.CARECHAIN_TOKEN_URL);
    assert.ok(conf.capabilities.includes('client-confidential-asymmetric'));
    assert.ok(conf.grant_types_supported.includes('client_credentials'));
  });

  it('creates by a conditional update, then updates the one it finds', STEP, async () => {
    assert.ok(dr, 'needs the client signed in above');
    const body = { ...observation(patient, '2345-7', 'Glucose', 101, 'mg/dL', 'laboratory'), identifier: [{ system: 'urn:example:interactions', value: tag }] };
    const search = `/Observation?patient=Patient/${patient}&identifier=${encodeURIComponent(ident)}`;
    const created = await fhir('PUT', search, { body });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    obsId = created.body.id;
    const updated = await fhir('PUT', search, { body: { ...body, valueQuantity: { ...body.valueQuantity, value: 102 } } });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.equal(updated.body.id, obsId);
    assert.equal(updated.body.meta.versionId, '2');
  });

  it('patches with a JSON Patch, and answers a conditional read with 304', STEP, async () => {
    assert.ok(obsId, 'needs the Observation written above');
    const patched = await fhir('PATCH', `/Observation/${obsId}`, {
      headers: { 'content-type': 'application/json-patch+json', 'if-match': 'W/"2"' },
      text: JSON.stringify([{ op: 'replace', path: '/valueQuantity/value', value: 103 }, { op: 'add', path: '/note', value: [{ text: 'fasting' }] }]),
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.valueQuantity.value, 103);
    assert.equal(patched.headers.get('etag'), 'W/"3"');
    const stale = await fhir('PATCH', `/Observation/${obsId}`, {
      headers: { 'content-type': 'application/json-patch+json', 'if-match': 'W/"2"' }, text: '[]',
    });
    assert.equal(stale.status, 412);
    expectOutcome(stale.body);
    const same = await fhir('GET', `/Observation/${obsId}`, { headers: { 'if-none-match': 'W/"3"' } });
    assert.equal(same.status, 304);
    assert.equal(same.body, undefined);
  });

  it('answers Prefer and refuses formats other than JSON', STEP, async () => {
    assert.ok(obsId, 'needs the Observation written above');
    const body = observation(patient, '8867-4', 'Heart rate', 70, 'beats/minute', 'vital-signs');
    const minimal = await fhir('POST', '/Observation', { body, headers: { prefer: 'return=minimal' } });
    assert.equal(minimal.status, 201);
    assert.equal(minimal.body, undefined);
    assert.match(minimal.headers.get('location') ?? '', /\/Observation\//);
    const outcome = await fhir('POST', '/Observation', { body, headers: { prefer: 'return=OperationOutcome' } });
    assert.equal(outcome.status, 201);
    assert.equal(outcome.body.resourceType, 'OperationOutcome');
    assert.equal(outcome.body.issue[0].severity, 'information');
    const xml = await fhir('GET', `/Observation/${obsId}?_format=xml`);
    assert.equal(xml.status, 406);
    expectOutcome(xml.body, 'not-supported');
  });

  it('includes what a report references and what references a result', STEP, async () => {
    assert.ok(obsId, 'needs the Observation written above');
    const report = await fhir('POST', '/DiagnosticReport', {
      body: {
        resourceType: 'DiagnosticReport', status: 'final', code: { coding: [{ system: LOINC, code: '24323-8' }] },
        subject: { reference: `Patient/${patient}` }, result: [{ reference: `Observation/${obsId}` }],
      },
    });
    assert.equal(report.status, 201, JSON.stringify(report.body));
    const inc = await fhir('GET', `/DiagnosticReport?patient=Patient/${patient}&_id=${report.body.id}&_include=DiagnosticReport:result`);
    assert.equal(inc.status, 200);
    assert.deepEqual(inc.body.entry.map((e) => [e.search.mode, `${e.resource.resourceType}/${e.resource.id}`]),
      [['match', `DiagnosticReport/${report.body.id}`], ['include', `Observation/${obsId}`]]);
    const rev = await fhir('GET', `/Observation?patient=Patient/${patient}&_id=${obsId}&_revinclude=DiagnosticReport:result`);
    assert.ok(rev.body.entry.some((e) => e.search.mode === 'include' && e.resource.id === report.body.id), JSON.stringify(rev.body));
  });

  it('shapes answers: _elements, _summary=count, POST _search, $everything paging', STEP, async () => {
    assert.ok(obsId, 'needs the Observation written above');
    const p = `patient=Patient/${patient}`;
    const elems = await fhir('GET', `/Observation?${p}&_id=${obsId}&_elements=status,code`);
    const res = elems.body.entry[0].resource;
    assert.equal(res.valueQuantity, undefined);
    assert.ok(res.meta.tag.some((t) => t.code === 'SUBSETTED'));
    const count = await fhir('GET', `/Observation?${p}&_summary=count`);
    assert.ok(count.body.total > 0);
    assert.equal(count.body.entry, undefined);
    const posted = await fhir('POST', '/Observation/_search', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' }, text: `${p}&_count=1`,
    });
    assert.equal(posted.status, 200);
    assert.equal(posted.body.entry.length, 1);
    assert.ok(posted.body.link.some((l) => l.relation === 'next' && l.url.includes('/fhir/Observation?')));
    const everything = await fhir('GET', `/Patient/${patient}/$everything?_type=Observation&_count=2`);
    assert.equal(everything.status, 200);
    assert.ok(everything.body.entry.length <= 2 && everything.body.entry.every((e) => e.resource.resourceType === 'Observation'));
  });

  it('reads a Provenance by the id its search gives', STEP, async () => {
    assert.ok(obsId, 'needs the Observation written above');
    const search = await fhir('GET', `/Provenance?target=Observation/${obsId}`);
    assert.ok(search.body.entry.length >= 3, 'one per version');
    const id = search.body.entry[0].resource.id;
    const read = await fhir('GET', `/Provenance/${id}`);
    assert.equal(read.status, 200);
    assert.equal(read.body.id, id);
  });

  it('deletes by a conditional delete', STEP, async () => {
    assert.ok(obsId, 'needs the Observation written above');
    const del = await fhir('DELETE', `/Observation?patient=Patient/${patient}&identifier=${encodeURIComponent(ident)}`);
    assert.equal(del.status, 204);
    const gone = await fhir('GET', `/Observation/${obsId}`);
    assert.equal(gone.status, 410);
  });

  it('exports the organization\'s patients at system level, every line valid R4', STEP, async () => {
    assert.ok(dr, 'needs the client signed in above');
    const kick = await fetch(`${base}/$export?_type=Observation,Patient`, {
      headers: { authorization: `Bearer ${dr.accessToken}`, prefer: 'respond-async', accept: 'application/fhir+json' },
    });
    assert.equal(kick.status, 202);
    const status = kick.headers.get('content-location');
    const manifest = await (await fetch(status, { headers: { authorization: `Bearer ${dr.accessToken}` } })).json();
    assert.ok(manifest.output.length > 0, JSON.stringify(manifest));
    let lines = 0;
    for (const out of manifest.output) {
      assert.ok(['Observation', 'Patient'].includes(out.type), out.type);
      const text = await (await fetch(out.url, { headers: { authorization: `Bearer ${dr.accessToken}` } })).text();
      for (const line of text.split('\n').filter(Boolean)) {
        expectValid(JSON.parse(line), `${out.type} ndjson line`);
        lines += 1;
      }
    }
    assert.ok(lines > 0);
    const cancel = await fetch(status, { method: 'DELETE', headers: { authorization: `Bearer ${dr.accessToken}` } });
    assert.equal(cancel.status, 202);
  });
});
