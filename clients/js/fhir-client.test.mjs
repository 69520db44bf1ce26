// An integrator's first session with a FHIR R4 client written by someone
// else (fhir-kit-client) against a running carechain node: the
// CapabilityStatement, a SMART backend-services token, the patient's record
// (read, vread, instance, type and system history), an Observation's life
// (create, conditional create, update and delete with ETag/If-Match), and a
// principal without the patient's consent. Every response body is validated
// as R4 by fhir-validate.mjs (see carechain.mjs for the configuration).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  call, clientWith, codesOf, describeError, env, expectOutcome, headerOf, ids, LOINC, observation, signIn,
  skipUnconfigured, statusOf, STEP,
} from './carechain.mjs';

describe('an integrator reads and writes one patient\'s record', { skip: skipUnconfigured }, () => {
  const patient = env.CARECHAIN_PATIENT;
  let dr; // client with the physician's token
  let hr; // created heart-rate Observation
  let patientVersion; // Patient's versionId after the PUT

  it('serves a FHIR 4.0.1 CapabilityStatement', STEP, async () => {
    // No token needed for the CapabilityStatement.
    const cs = await call('GET metadata', () => clientWith().capabilityStatement());
    assert.equal(cs.resourceType, 'CapabilityStatement');
    assert.equal(cs.fhirVersion, '4.0.1');
    assert.ok(cs.format.includes('json'), `format ${cs.format}`);
    const rest = cs.rest.find((r) => r.mode === 'server');
    const byType = Object.fromEntries(rest.resource.map((r) => [r.type, r]));
    for (const t of ['Observation', 'Patient']) {
      const interactions = byType[t]?.interaction?.map((i) => i.code) ?? [];
      for (const code of ['read', 'vread', 'update', 'history-instance', 'search-type']) {
        assert.ok(interactions.includes(code), `${t} does not declare ${code}: ${interactions}`);
      }
    }
    assert.equal(byType.Observation.conditionalCreate, true);
    assert.ok(byType.Patient.operation?.some((o) => o.name === 'everything'), 'no Patient/$everything');
    assert.ok(rest.interaction.some((i) => i.code === 'transaction'), 'no transaction');
  });

  it('issues a bearer token for a signed client assertion', STEP, async () => {
    dr = await signIn('DR');
  });

  it('PUT Patient/{pseudonym} stores a new version of the Patient', STEP, async () => {
    assert.ok(dr, 'needs the token obtained above');
    const before = await call(`GET Patient/${patient}`, () => dr.read({ resourceType: 'Patient', id: patient }));
    const body = {
      resourceType: 'Patient', id: patient, active: true, identifier: before.identifier,
      name: [{ family: 'Tanaka', given: ['Hiro'] }], gender: 'male', birthDate: '1959-09-09',
    };
    const res = await call(`PUT Patient/${patient}`, () => dr.update({
      resourceType: 'Patient', id: patient, body, options: { headers: { 'If-Match': headerOf(before, 'etag') } },
    }));
    assert.equal(statusOf(res), 200);
    assert.equal(res.id, patient);
    assert.equal(Number(res.meta.versionId), Number(before.meta.versionId) + 1);
    assert.equal(headerOf(res, 'etag'), `W/"${res.meta.versionId}"`);
    patientVersion = res.meta.versionId;
    const read = await call(`GET Patient/${patient}`, () => dr.read({ resourceType: 'Patient', id: patient }));
    assert.equal(read.active, true);
    assert.deepEqual(read.name[0].given, ['Hiro']);
    assert.equal(read.birthDate, '1959-09-09');
  });

  it('reads the Patient\'s versions: vread, instance, type and system history', STEP, async () => {
    assert.ok(patientVersion, 'needs the Patient version written above');
    const v1 = await call(`GET Patient/${patient}/_history/1`, () => dr.vread({ resourceType: 'Patient', id: patient, version: '1' }));
    assert.equal(v1.meta.versionId, '1');
    assert.equal(v1.active, undefined, 'version 1 was written before active was set');

    const instance = await call(`GET Patient/${patient}/_history`, () => dr.history({ resourceType: 'Patient', id: patient }));
    assert.equal(instance.type, 'history');
    const versions = instance.entry.map((e) => e.resource.meta.versionId);
    assert.ok(versions.includes('1') && versions.includes(patientVersion), `versions ${versions}`);
    assert.equal(instance.entry[0].resource.meta.versionId, patientVersion, 'history starts with the newest version');

    // Type and system history are of one patient's records.
    const type = await call('GET Observation/_history?patient', () => dr.request(
      `Observation/_history?patient=Patient/${patient}&_count=1000`));
    assert.equal(type.type, 'history');
    assert.ok(type.entry.every((e) => e.request.url.split('/')[0] === 'Observation'), 'a type history holds another type');
    const system = await call('GET _history?patient', () => dr.request(`_history?patient=Patient/${patient}&_count=1000`));
    assert.equal(system.type, 'history');
    const types = new Set(system.entry.map((e) => e.request.url.split('/')[0]));
    assert.ok(types.has('Patient') && types.has('Observation'), `system history types ${[...types]}`);
  });

  it('creates an Observation: 201, Location, ETag, version 1', STEP, async () => {
    assert.ok(dr, 'needs the token obtained above');
    hr = await call('POST Observation', () => dr.create({
      resourceType: 'Observation', body: observation(patient, '8867-4', 'Heart rate', 72, 'beats/minute', 'vital-signs'),
    }));
    assert.equal(statusOf(hr), 201);
    assert.ok(hr.id, 'created Observation has no id');
    assert.equal(hr.meta?.versionId, '1');
    assert.equal(headerOf(hr, 'etag'), 'W/"1"');
    assert.match(headerOf(hr, 'location') ?? '', new RegExp(`/Observation/${hr.id}/_history/1$`));
    const read = await call(`GET Observation/${hr.id}`, () => dr.read({ resourceType: 'Observation', id: hr.id }));
    assert.equal(read.subject.reference, `Patient/${patient}`);
    assert.deepEqual(codesOf(read), [`${LOINC}|8867-4`]);
  });

  it('creates conditionally with If-None-Exist: once, then answers the match', STEP, async () => {
    assert.ok(dr, 'needs the token obtained above');
    const identifier = { system: 'urn:example:lab-order', value: randomUUID() };
    const body = { ...observation(patient, '2345-7', 'Glucose', 101, 'mg/dL', 'laboratory'), identifier: [identifier] };
    const options = { headers: { 'If-None-Exist': `identifier=${identifier.system}|${identifier.value}&patient=Patient/${patient}` } };
    const first = await call('conditional create', () => dr.create({ resourceType: 'Observation', body, options }));
    assert.equal(statusOf(first), 201);
    const again = await call('conditional create again', () => dr.create({ resourceType: 'Observation', body, options }));
    assert.equal(statusOf(again), 200, 'the second create made a new resource');
    assert.equal(again.id, first.id);
    const found = await call('search by identifier', () => dr.search({
      resourceType: 'Observation', searchParams: { patient: `Patient/${patient}`, identifier: `${identifier.system}|${identifier.value}` },
    }));
    assert.deepEqual(ids(found), [first.id]);
  });

  it('updates with If-Match: the current version succeeds, a stale one is 412', STEP, async () => {
    assert.ok(hr, 'needs the Observation created above');
    const body = { ...hr, valueQuantity: { ...hr.valueQuantity, value: 80 }, note: [{ text: 'rechecked after rest' }] };
    delete body.meta;
    const ifMatch = (v) => ({ headers: { 'If-Match': `W/"${v}"` } });
    const updated = await call(`PUT Observation/${hr.id}`, () => dr.update({ resourceType: 'Observation', id: hr.id, body, options: ifMatch(1) }));
    assert.equal(statusOf(updated), 200);
    assert.equal(updated.meta.versionId, '2');
    assert.equal(headerOf(updated, 'etag'), 'W/"2"');
    assert.equal(updated.valueQuantity.value, 80);

    await assert.rejects(dr.update({ resourceType: 'Observation', id: hr.id, body, options: ifMatch(1) }), (err) => {
      assert.equal(err.response?.status, 412, describeError(err));
      expectOutcome(err.response.data);
      return true;
    });

    const history = await call(`GET Observation/${hr.id}/_history`, () => dr.history({ resourceType: 'Observation', id: hr.id }));
    assert.equal(history.type, 'history');
    assert.deepEqual(history.entry.map((e) => e.resource.meta.versionId), ['2', '1']);
    assert.deepEqual(history.entry.map((e) => e.request.method), ['PUT', 'POST']);
    const v1 = await call(`GET Observation/${hr.id}/_history/1`, () => dr.vread({ resourceType: 'Observation', id: hr.id, version: '1' }));
    assert.equal(v1.valueQuantity.value, 72);
  });

  it('deletes with If-Match: then 410 Gone, and the deletion is in the history', STEP, async () => {
    assert.ok(hr, 'needs the Observation created above');
    await assert.rejects(dr.delete({ resourceType: 'Observation', id: hr.id, options: { headers: { 'If-Match': 'W/"1"' } } }), (err) => {
      assert.equal(err.response?.status, 412, describeError(err));
      return true;
    });
    const del = await call(`DELETE Observation/${hr.id}`, () => dr.delete({
      resourceType: 'Observation', id: hr.id, options: { headers: { 'If-Match': 'W/"2"' } },
    }));
    assert.ok([200, 204].includes(statusOf(del)), `status ${statusOf(del)}`);
    await assert.rejects(dr.read({ resourceType: 'Observation', id: hr.id }), (err) => {
      assert.equal(err.response?.status, 410, describeError(err));
      expectOutcome(err.response.data, 'deleted');
      return true;
    });
    const history = await call(`GET Observation/${hr.id}/_history`, () => dr.history({ resourceType: 'Observation', id: hr.id }));
    assert.equal(history.entry.length, 3);
    assert.equal(history.entry[0].request.method, 'DELETE');
    assert.equal(history.entry[0].resource, undefined, 'a deletion has no resource');
    const found = await call('search after delete', () => dr.search({
      resourceType: 'Observation', searchParams: { patient: `Patient/${patient}`, _count: '1000' },
    }));
    assert.ok(!ids(found).includes(hr.id), 'a deleted Observation is still found');
  });

  it('answers a principal without consent 404 for a read, 403 for a write', STEP, async () => {
    assert.ok(dr, 'needs the token obtained above');
    const other = await signIn('OTHER');
    await assert.rejects(other.read({ resourceType: 'Patient', id: patient }), (err) => {
      assert.equal(err.response?.status, 404, describeError(err));
      expectOutcome(err.response.data, 'not-found');
      assert.ok(!JSON.stringify(err.response.data).includes('Tanaka'), 'the refusal leaks the resource');
      return true;
    });
    await assert.rejects(other.create({
      resourceType: 'Observation', body: observation(patient, '8867-4', 'Heart rate', 90, 'beats/minute', 'vital-signs'),
    }), (err) => {
      assert.equal(err.response?.status, 403, describeError(err));
      expectOutcome(err.response.data, 'forbidden');
      return true;
    });
    // Search answers only what the caller may read: none of these records.
    const found = await call('search as the other principal', () => other.search({
      resourceType: 'Observation', searchParams: { patient: `Patient/${patient}` },
    }));
    assert.equal(found.total, 0);
  });
});
