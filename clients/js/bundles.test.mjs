// Bundles as an integrator sends them: a transaction whose entries refer to
// each other by urn:uuid fullUrls (the server rewrites them to the ids it
// assigns) together with PUT, DELETE and GET entries; a transaction with an
// invalid entry, refused as a whole; a batch of reads; and Patient/$everything.
// Every response body is validated as R4.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  call, describeError, env, expectOutcome, ids, observation, signIn, skipUnconfigured, statusOf, STEP,
} from './carechain.mjs';

// idIn is the id of Type in a transaction-response entry's location.
function idIn(entry, type) {
  const m = (entry.response?.location ?? '').match(new RegExp(`${type}/([^/]+)/_history/`));
  assert.ok(m, `entry without a ${type} location: ${JSON.stringify(entry)}`);
  return m[1];
}

describe('an integrator sends Bundles', { skip: skipUnconfigured }, () => {
  const patient = env.CARECHAIN_PATIENT;
  let dr;
  let kept; // an Observation the transaction updates
  let dropped; // an Observation the transaction deletes
  const written = {}; // ids the transaction assigned

  const create = (body) => call('POST Observation', () => dr.create({ resourceType: 'Observation', body }));

  it('commits a transaction with urn:uuid references, PUT, DELETE and GET entries', STEP, async () => {
    dr = await signIn('DR');
    kept = await create(observation(patient, '8867-4', 'Heart rate', 70, 'beats/minute', 'vital-signs'));
    dropped = await create(observation(patient, '8867-4', 'Heart rate', 71, 'beats/minute', 'vital-signs'));
    const encounter = `urn:uuid:${randomUUID()}`;
    const temperature = `urn:uuid:${randomUUID()}`;
    const panel = `urn:uuid:${randomUUID()}`;
    const body = {
      resourceType: 'Bundle', type: 'transaction',
      entry: [
        {
          fullUrl: encounter, request: { method: 'POST', url: 'Encounter' },
          resource: {
            resourceType: 'Encounter', status: 'finished', subject: { reference: `Patient/${patient}` },
            class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
          },
        },
        {
          fullUrl: temperature, request: { method: 'POST', url: 'Observation' },
          resource: { ...observation(patient, '8310-5', 'Body temperature', 37.4, 'Cel', 'vital-signs'), encounter: { reference: encounter } },
        },
        {
          fullUrl: panel, request: { method: 'POST', url: 'Observation' },
          resource: {
            ...observation(patient, '85353-1', 'Vital signs panel', undefined, undefined, 'vital-signs'), valueQuantity: undefined,
            encounter: { reference: encounter }, hasMember: [{ reference: temperature }, { reference: `Observation/${kept.id}` }],
          },
        },
        {
          request: { method: 'PUT', url: `Observation/${kept.id}` },
          resource: { ...kept, meta: undefined, valueQuantity: { ...kept.valueQuantity, value: 74 } },
        },
        { request: { method: 'DELETE', url: `Observation/${dropped.id}` } },
        { request: { method: 'GET', url: `Patient/${patient}` } },
      ],
    };
    const res = await call('POST / (transaction)', () => dr.transaction({ body: JSON.parse(JSON.stringify(body)) }));
    assert.equal(statusOf(res), 200);
    assert.equal(res.type, 'transaction-response');
    assert.ok(res.link.some((l) => l.relation === 'self' && /\/fhir\/?$/.test(l.url)), JSON.stringify(res.link));
    assert.equal(res.entry.length, body.entry.length, 'one response entry per request entry');
    const statuses = res.entry.map((e) => e.response.status.split(' ')[0]);
    assert.deepEqual(statuses, ['201', '201', '201', '200', '204', '200']);
    written.encounter = idIn(res.entry[0], 'Encounter');
    written.temperature = idIn(res.entry[1], 'Observation');
    written.panel = idIn(res.entry[2], 'Observation');
    assert.equal(idIn(res.entry[3], 'Observation'), kept.id);
    assert.equal(res.entry[5].resource?.id, patient, 'the GET entry does not carry the Patient');

    // The urn:uuid references now name the resources the server created.
    const temp = await call('read temperature', () => dr.read({ resourceType: 'Observation', id: written.temperature }));
    assert.equal(temp.encounter.reference, `Encounter/${written.encounter}`);
    const pnl = await call('read panel', () => dr.read({ resourceType: 'Observation', id: written.panel }));
    assert.equal(pnl.encounter.reference, `Encounter/${written.encounter}`);
    assert.deepEqual(pnl.hasMember.map((r) => r.reference), [`Observation/${written.temperature}`, `Observation/${kept.id}`]);
    assert.ok(!JSON.stringify([temp, pnl]).includes('urn:uuid:'), 'a urn:uuid reference was stored');
    const enc = await call('read encounter', () => dr.read({ resourceType: 'Encounter', id: written.encounter }));
    assert.equal(enc.subject.reference, `Patient/${patient}`);

    const updated = await call('read updated', () => dr.read({ resourceType: 'Observation', id: kept.id }));
    assert.equal(updated.meta.versionId, '2');
    assert.equal(updated.valueQuantity.value, 74);
    await assert.rejects(dr.read({ resourceType: 'Observation', id: dropped.id }), (err) => {
      assert.equal(err.response?.status, 410, describeError(err));
      return true;
    });
  });

  it('refuses a transaction with an invalid entry as a whole', STEP, async () => {
    assert.ok(dr, 'needs the token obtained above');
    const count = async () => (await call('search Observation?patient', () => dr.search({
      resourceType: 'Observation', searchParams: { patient: `Patient/${patient}`, _count: '1000' },
    }))).total;
    const before = await count();
    const valid = observation(patient, '8310-5', 'Body temperature', 36.8, 'Cel', 'vital-signs');
    const invalid = { ...observation(patient, '9279-1', 'Respiratory rate', 18, '/min', 'vital-signs'), status: 'not-a-status' };
    const body = {
      resourceType: 'Bundle', type: 'transaction',
      entry: [valid, invalid].map((resource) => ({ fullUrl: `urn:uuid:${randomUUID()}`, resource, request: { method: 'POST', url: 'Observation' } })),
    };
    await assert.rejects(dr.transaction({ body }), (err) => {
      const status = err.response?.status;
      assert.ok(status >= 400 && status < 500, describeError(err));
      expectOutcome(err.response.data);
      return true;
    });
    assert.equal(await count(), before, 'the valid entry of a refused transaction was stored');
  });

  it('answers a batch of reads entry by entry', STEP, async () => {
    assert.ok(written.panel, 'needs the transaction above');
    const body = {
      resourceType: 'Bundle', type: 'batch',
      entry: [
        `Patient/${patient}`,
        `Observation/${written.panel}`,
        `Observation?patient=Patient/${patient}&code=http://loinc.org|8310-5`,
        `Observation/${kept.id}/_history/1`,
        `Observation/${kept.id}/_history`,
        'Observation/no-such-record',
      ].map((url) => ({ request: { method: 'GET', url } })),
    };
    const res = await call('POST / (batch)', () => dr.batch({ body }));
    assert.equal(res.type, 'batch-response');
    assert.ok(res.link.some((l) => l.relation === 'self'), JSON.stringify(res.link));
    assert.deepEqual(res.entry.map((e) => e.response.status.split(' ')[0]), ['200', '200', '200', '200', '200', '404']);
    const [pat, panel, search, v1, history, missing] = res.entry;
    assert.equal(pat.resource.id, patient);
    assert.equal(panel.resource.code.coding[0].code, '85353-1');
    assert.equal(search.resource.type, 'searchset');
    assert.ok(ids(search.resource).includes(written.temperature));
    assert.equal(v1.resource.valueQuantity.value, 70);
    assert.equal(history.resource.type, 'history');
    assert.equal(history.resource.entry.length, 2);
    expectOutcome(missing.response.outcome, 'not-found');
  });

  it('returns the patient\'s record with Patient/$everything', STEP, async () => {
    assert.ok(written.panel, 'needs the transaction above');
    const res = await call(`GET Patient/${patient}/$everything`, () => dr.operation({
      name: '$everything', resourceType: 'Patient', id: patient, method: 'GET',
    }));
    assert.equal(res.type, 'searchset');
    const refs = res.entry.map((e) => `${e.resource.resourceType}/${e.resource.id}`);
    for (const ref of [`Patient/${patient}`, `Encounter/${written.encounter}`, `Observation/${written.temperature}`,
      `Observation/${written.panel}`, `Observation/${kept.id}`]) {
      assert.ok(refs.includes(ref), `${ref} missing from $everything`);
    }
    assert.ok(!refs.includes(`Observation/${dropped.id}`), 'a deleted Observation is in $everything');
    for (const e of res.entry.filter((e) => e.resource.resourceType !== 'Patient')) {
      const ref = (e.resource.subject ?? e.resource.patient)?.reference;
      assert.equal(ref, `Patient/${patient}`, `${e.resource.resourceType}/${e.resource.id} belongs to ${ref}`);
    }
  });
});
