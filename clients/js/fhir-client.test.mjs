// A FHIR R4 client written by someone else (fhir-kit-client) against a running
// carechain node: SMART backend-services token with an EdDSA client
// assertion, then create, read, update, history, search, a transaction
// Bundle, Patient/$everything, and a consent-denied read.
//
// Configuration (cmd/carechain/jsclient_test.go sets it against `carechain demo`):
//   CARECHAIN_FHIR_BASE   http://ADDR (or http://ADDR/fhir)
//   CARECHAIN_TOKEN_URL   http://ADDR/auth/token
//   CARECHAIN_DR_ID       principal that may write and read the patient's records (st-mary/dr-chen)
//   CARECHAIN_DR_SEED     its Ed25519 seed, 32 bytes in hex
//   CARECHAIN_OTHER_ID    principal without the patient's consent (northlab/tech-kim)
//   CARECHAIN_OTHER_SEED  its Ed25519 seed, 32 bytes in hex
//   CARECHAIN_PATIENT     the patient's pseudonym (demo-06)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { Client } from 'fhir-kit-client';

const env = process.env;
const required = ['CARECHAIN_FHIR_BASE', 'CARECHAIN_TOKEN_URL', 'CARECHAIN_DR_ID', 'CARECHAIN_DR_SEED',
  'CARECHAIN_OTHER_ID', 'CARECHAIN_OTHER_SEED', 'CARECHAIN_PATIENT'];
const missing = required.filter((k) => !env[k]);

const LOINC = 'http://loinc.org';
const STEP = { timeout: 60_000 };

// fhirBase accepts the server root or its /fhir base.
function fhirBase(base) {
  const b = base.replace(/\/+$/, '');
  return b.endsWith('/fhir') ? b : `${b}/fhir`;
}

// ed25519Key builds a node:crypto private key from a 32-byte seed (PKCS#8 DER).
function ed25519Key(seedHex) {
  assert.match(seedHex, /^[0-9a-f]{64}$/i, 'the seed must be 32 bytes of hex');
  const der = Buffer.from('302e020100300506032b657004220420' + seedHex, 'hex');
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

// clientAssertion is a SMART backend-services private_key_jwt signed with EdDSA.
function clientAssertion(principal, key, aud) {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64url({ alg: 'EdDSA', typ: 'JWT' })}.${b64url({ iss: principal, sub: principal, aud, iat: now, exp: now + 120, jti: randomUUID() })}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
}

// token gets a bearer token for principal from the token endpoint.
async function token(principal, seedHex) {
  const res = await fetch(env.CARECHAIN_TOKEN_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion(principal, ed25519Key(seedHex), env.CARECHAIN_TOKEN_URL),
    }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `token for ${principal}: ${res.status} ${text}`);
  const body = JSON.parse(text);
  assert.equal(typeof body.access_token, 'string');
  assert.ok(body.access_token.length > 0, 'empty access_token');
  assert.equal(body.token_type.toLowerCase(), 'bearer');
  assert.ok(body.expires_in > 0, `expires_in ${body.expires_in}`);
  return body;
}

const clientWith = (accessToken) => new Client({
  baseUrl: fhirBase(env.CARECHAIN_FHIR_BASE),
  customHeaders: { Authorization: `Bearer ${accessToken}` },
});

// statusOf is the HTTP status of a fhir-kit-client result.
const statusOf = (result) => Client.httpFor(result).response?.status;

// describeError makes a fhir-kit-client failure readable in assertion messages.
function describeError(err) {
  if (err?.response) return `${err.message}: ${JSON.stringify(err.response.data)}`;
  return String(err?.stack ?? err);
}

// call runs a client call and turns an HTTP error into a clear assertion failure.
async function call(what, fn) {
  try {
    return await fn();
  } catch (err) {
    assert.fail(`${what} failed: ${describeError(err)}`);
  }
}

const ids = (bundle) => (bundle.entry ?? []).map((e) => e.resource?.id);

function codesOf(resource) {
  return (resource.code?.coding ?? []).map((c) => `${c.system}|${c.code}`);
}

function observation(patient, code, display, value, unit, category) {
  return {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }],
    code: { coding: [{ system: LOINC, code, display }] },
    subject: { reference: `Patient/${patient}` },
    effectiveDateTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit === 'beats/minute' ? '/min' : unit },
  };
}

describe('carechain FHIR R4 API through fhir-kit-client', { skip: missing.length > 0 && `set ${missing.join(', ')}` }, () => {
  const patient = env.CARECHAIN_PATIENT;
  let dr; // client with the physician's token
  let hr; // created heart-rate Observation
  let glucose; // created glucose Observation
  const txIds = [];

  it('serves a FHIR 4.0.1 CapabilityStatement', STEP, async () => {
    // No token needed for the CapabilityStatement.
    const cs = await call('GET metadata', () => new Client({ baseUrl: fhirBase(env.CARECHAIN_FHIR_BASE) }).capabilityStatement());
    assert.equal(cs.resourceType, 'CapabilityStatement');
    assert.equal(cs.fhirVersion, '4.0.1');
    assert.ok(cs.format.includes('json'), `format ${cs.format}`);
    const types = cs.rest[0].resource.map((r) => r.type);
    assert.ok(types.includes('Observation') && types.includes('Patient'), `resource types ${types}`);
  });

  it('issues a bearer token for a signed client assertion', STEP, async () => {
    const tok = await token(env.CARECHAIN_DR_ID, env.CARECHAIN_DR_SEED);
    dr = clientWith(tok.access_token);
  });

  it('PUT Patient/{pseudonym} stores the Patient resource', STEP, async () => {
    assert.ok(dr, 'needs the token obtained above');
    const body = {
      resourceType: 'Patient', id: patient, active: true,
      name: [{ family: 'Tanaka', given: ['Hiro'] }], gender: 'male', birthDate: '1959-09-09',
    };
    const res = await call(`PUT Patient/${patient}`, () => dr.update({ resourceType: 'Patient', id: patient, body }));
    assert.ok([200, 201].includes(statusOf(res)), `status ${statusOf(res)}`);
    assert.equal(res.resourceType, 'Patient');
    assert.equal(res.id, patient);
    assert.ok(res.meta?.versionId, 'no meta.versionId');
    const read = await call(`GET Patient/${patient}`, () => dr.read({ resourceType: 'Patient', id: patient }));
    assert.equal(read.id, patient);
    assert.equal(read.name[0].family, 'Tanaka');
    assert.deepEqual(read.name[0].given, ['Hiro']);
    assert.equal(read.birthDate, '1959-09-09');
  });

  it('creates Observations referencing the patient', STEP, async () => {
    assert.ok(dr, 'needs the token obtained above');
    hr = await call('POST Observation (heart rate)', () => dr.create({
      resourceType: 'Observation', body: observation(patient, '8867-4', 'Heart rate', 72, 'beats/minute', 'vital-signs'),
    }));
    assert.equal(statusOf(hr), 201);
    assert.equal(hr.resourceType, 'Observation');
    assert.ok(hr.id, 'created Observation has no id');
    assert.equal(hr.meta?.versionId, '1');
    assert.equal(hr.valueQuantity.value, 72);
    assert.match(Client.httpFor(hr).response.headers.get('location') ?? '', new RegExp(`/Observation/${hr.id}/_history/1$`));

    glucose = await call('POST Observation (glucose)', () => dr.create({
      resourceType: 'Observation', body: observation(patient, '2345-7', 'Glucose [Mass/volume] in Serum or Plasma', 98, 'mg/dL', 'laboratory'),
    }));
    assert.equal(statusOf(glucose), 201);
    assert.ok(glucose.id && glucose.id !== hr.id, `ids ${hr.id} ${glucose.id}`);

    const read = await call(`GET Observation/${hr.id}`, () => dr.read({ resourceType: 'Observation', id: hr.id }));
    assert.equal(read.subject.reference, `Patient/${patient}`);
    assert.deepEqual(codesOf(read), [`${LOINC}|8867-4`]);
  });

  it('searches Observations by patient and by code', STEP, async () => {
    assert.ok(hr && glucose, 'needs the Observations created above');
    const all = await call('search Observation?patient', () => dr.search({
      resourceType: 'Observation', searchParams: { patient: `Patient/${patient}`, _count: '1000' },
    }));
    assert.equal(all.resourceType, 'Bundle');
    assert.equal(all.type, 'searchset');
    assert.ok(all.entry.length >= 2, `${all.entry.length} entries`);
    assert.ok(all.entry.every((e) => e.resource.resourceType === 'Observation'));
    assert.ok(ids(all).includes(hr.id) && ids(all).includes(glucose.id), `ids ${ids(all)}`);

    const byCode = await call('search Observation?code', () => dr.search({
      resourceType: 'Observation', searchParams: { patient: `Patient/${patient}`, code: `${LOINC}|8867-4`, _count: '1000' },
    }));
    assert.equal(byCode.type, 'searchset');
    assert.ok(byCode.entry.length >= 1, 'no heart-rate Observation found');
    for (const e of byCode.entry) {
      assert.ok(codesOf(e.resource).includes(`${LOINC}|8867-4`), `${e.resource.id} has codes ${codesOf(e.resource)}`);
    }
    assert.ok(ids(byCode).includes(hr.id), 'the created heart-rate Observation is missing');
    assert.ok(!ids(byCode).includes(glucose.id), 'the glucose Observation matched a heart-rate code');
    assert.equal(byCode.total, byCode.entry.length);
  });

  it('updates an Observation and keeps its history', STEP, async () => {
    assert.ok(hr, 'needs the Observation created above');
    const body = { ...hr, valueQuantity: { ...hr.valueQuantity, value: 80 }, note: [{ text: 'rechecked after rest' }] };
    delete body.meta;
    const updated = await call(`PUT Observation/${hr.id}`, () => dr.update({ resourceType: 'Observation', id: hr.id, body }));
    assert.equal(statusOf(updated), 200);
    assert.equal(updated.meta.versionId, '2');
    assert.equal(updated.valueQuantity.value, 80);

    const history = await call(`GET Observation/${hr.id}/_history`, () => dr.history({ resourceType: 'Observation', id: hr.id }));
    assert.equal(history.resourceType, 'Bundle');
    assert.equal(history.type, 'history');
    assert.equal(history.entry.length, 2);
    assert.deepEqual(history.entry.map((e) => e.resource.meta.versionId).sort(), ['1', '2']);
    const byVersion = Object.fromEntries(history.entry.map((e) => [e.resource.meta.versionId, e.resource]));
    assert.equal(byVersion['1'].valueQuantity.value, 72);
    assert.equal(byVersion['2'].valueQuantity.value, 80);

    const v1 = await call(`GET Observation/${hr.id}/_history/1`, () => dr.vread({ resourceType: 'Observation', id: hr.id, version: '1' }));
    assert.equal(v1.valueQuantity.value, 72);
  });

  it('commits a transaction Bundle of two Observations', STEP, async () => {
    assert.ok(dr, 'needs the token obtained above');
    const entries = [
      observation(patient, '8310-5', 'Body temperature', 37.1, 'Cel', 'vital-signs'),
      observation(patient, '9279-1', 'Respiratory rate', 16, '/min', 'vital-signs'),
    ].map((resource) => ({ fullUrl: `urn:uuid:${randomUUID()}`, resource, request: { method: 'POST', url: 'Observation' } }));
    const res = await call('POST / (transaction)', () => dr.transaction({ body: { resourceType: 'Bundle', type: 'transaction', entry: entries } }));
    assert.equal(statusOf(res), 200);
    assert.equal(res.resourceType, 'Bundle');
    assert.equal(res.type, 'transaction-response');
    assert.equal(res.entry?.length, 2);
    for (const e of res.entry) {
      assert.match(e.response?.status ?? '', /^201\b/, `entry status ${JSON.stringify(e.response)}`);
      const loc = e.response.location ?? '';
      const id = e.resource?.id ?? loc.match(/Observation\/([^/]+)/)?.[1];
      assert.ok(id, `entry has neither resource.id nor a location: ${JSON.stringify(e)}`);
      txIds.push(id);
    }
    assert.notEqual(txIds[0], txIds[1]);
    for (const id of txIds) {
      const read = await call(`GET Observation/${id}`, () => dr.read({ resourceType: 'Observation', id }));
      assert.equal(read.subject.reference, `Patient/${patient}`);
    }
  });

  it('rejects a transaction with an invalid entry as a whole', STEP, async () => {
    assert.ok(dr, 'needs the token obtained above');
    const count = async () => (await call('search Observation?patient', () => dr.search({
      resourceType: 'Observation', searchParams: { patient: `Patient/${patient}`, _count: '1000' },
    }))).entry.length;
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
      assert.equal(err.response.data.resourceType, 'OperationOutcome');
      return true;
    });
    assert.equal(await count(), before, 'the valid entry of a rejected transaction was stored');
  });

  it('returns the patient record with Patient/$everything', STEP, async () => {
    assert.ok(hr && glucose, 'needs the Observations created above');
    const res = await call(`GET Patient/${patient}/$everything`, () => dr.operation({
      name: '$everything', resourceType: 'Patient', id: patient, method: 'GET',
    }));
    assert.equal(res.resourceType, 'Bundle');
    assert.equal(res.type, 'searchset');
    const resources = (res.entry ?? []).map((e) => e.resource);
    assert.ok(resources.some((r) => r.resourceType === 'Patient' && r.id === patient), `no Patient/${patient} in ${resources.map((r) => `${r.resourceType}/${r.id}`)}`);
    const observations = resources.filter((r) => r.resourceType === 'Observation').map((r) => r.id);
    for (const id of [hr.id, glucose.id, ...txIds]) {
      assert.ok(observations.includes(id), `Observation/${id} missing from $everything`);
    }
    for (const r of resources.filter((r) => r.resourceType !== 'Patient')) {
      const ref = (r.subject ?? r.patient)?.reference;
      assert.equal(ref, `Patient/${patient}`, `${r.resourceType}/${r.id} belongs to ${ref}`);
    }
  });

  it('answers a principal without consent 404, as for an absent resource', STEP, async () => {
    assert.ok(hr, 'needs the Observation created above');
    const tok = await token(env.CARECHAIN_OTHER_ID, env.CARECHAIN_OTHER_SEED);
    const other = clientWith(tok.access_token);
    await assert.rejects(other.read({ resourceType: 'Observation', id: hr.id }), (err) => {
      assert.equal(err.response?.status, 404, describeError(err));
      const oo = err.response.data;
      assert.equal(oo.resourceType, 'OperationOutcome');
      assert.equal(oo.issue[0].severity, 'error');
      assert.equal(oo.issue[0].code, 'not-found');
      assert.ok(!JSON.stringify(oo).includes(hr.id), 'the refusal echoes the id');
      assert.ok(oo.issue[0].diagnostics, 'no diagnostics');
      assert.ok(!JSON.stringify(oo).includes('"valueQuantity"'), 'the refusal leaks the resource');
      return true;
    });
    // Search answers only what the caller may read: none of these records.
    const found = await call('search as the other principal', () => other.search({
      resourceType: 'Observation', searchParams: { patient: `Patient/${patient}` },
    }));
    for (const id of [hr.id, glucose.id]) {
      assert.ok(!ids(found).includes(id), `Observation/${id} leaked into another principal's search`);
    }
  });
});
