// Errors as an integrator meets them: each is an HTTP status with an
// OperationOutcome body, validated as R4 like every other response (401
// without a token, 404 for an unknown type or a record the caller may not
// read, 405 for a method a path does not serve, 400 for a parameter or body
// the server refuses, 403 for what the caller's role or consent does not allow).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  env, expectOutcome, observation, rawFHIR, signIn, skipUnconfigured, STEP,
} from './carechain.mjs';

describe('an integrator gets an OperationOutcome for each error', { skip: skipUnconfigured }, () => {
  const patient = env.CARECHAIN_PATIENT;
  let token; // the physician's access token

  // expectError sends a request as the physician and checks the status and
  // the OperationOutcome's first issue code.
  async function expectError(method, path, status, code, body) {
    const res = await rawFHIR(method, path, { accessToken: token, body });
    assert.equal(res.status, status, `${method} ${path}: ${JSON.stringify(res.body)}`);
    expectOutcome(res.body, code);
    assert.ok(res.body.issue[0].diagnostics, `${method} ${path}: the issue does not say what is wrong`);
    return res;
  }

  it('401 without a bearer token', STEP, async () => {
    token = (await signIn('DR')).accessToken;
    const res = await rawFHIR('GET', `/Patient/${patient}`);
    assert.equal(res.status, 401);
    expectOutcome(res.body, 'login');
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/i);
  });

  it('404 for a resource type the server does not know', STEP, async () => {
    assert.ok(token, 'needs the token obtained above');
    await expectError('GET', '/NoSuchType/1', 404, 'not-supported');
    await expectError('GET', `/NoSuchType?patient=Patient/${patient}`, 404, 'not-supported');
  });

  it('404 for a record the caller may not read, as for one that does not exist', STEP, async () => {
    assert.ok(token, 'needs the token obtained above');
    // demo-03 is registered at city-general and granted st-mary nothing.
    const denied = await expectError('GET', '/Observation/demo-03-glucose', 404, 'not-found');
    const absent = await expectError('GET', '/Observation/no-such-record', 404, 'not-found');
    assert.deepEqual(denied.body, absent.body, 'a refusal tells apart what exists');
    await expectError('GET', `/Patient/${patient}/_history/999`, 404, 'not-found');
  });

  it('405 with an Allow header for a method the path does not serve', STEP, async () => {
    assert.ok(token, 'needs the token obtained above');
    const post = await expectError('POST', `/Patient/${patient}`, 405, 'not-supported', { resourceType: 'Patient' });
    assert.match(post.headers.get('allow') ?? '', /\bGET\b.*\bPATCH\b/);
    await expectError('PATCH', '/metadata', 405, 'not-supported');
    await expectError('DELETE', `/Patient/${patient}/_history/1`, 405, 'not-supported');
  });

  it('400 for a search parameter the server refuses', STEP, async () => {
    assert.ok(token, 'needs the token obtained above');
    const p = `patient=Patient/${patient}`;
    await expectError('GET', `/Observation?${p}&no-such-param=1`, 400, 'not-supported');
    await expectError('GET', `/Observation?${p}&_count=many`, 400, 'value');
    await expectError('GET', `/Observation?${p}&_sort=no-such-param`, 400, 'not-supported');
    await expectError('GET', '/Observation', 400, 'required');
  });

  it('400 for a body the server refuses, saying where', STEP, async () => {
    assert.ok(token, 'needs the token obtained above');
    const obs = observation(patient, '8867-4', 'Heart rate', 75, 'beats/minute', 'vital-signs');
    const malformed = await rawFHIR('POST', '/Observation', { accessToken: token, text: '{"resourceType": "Observation",' });
    assert.equal(malformed.status, 400);
    expectOutcome(malformed.body);
    const invalid = await expectError('POST', '/Observation', 400, 'invalid', { ...obs, status: 'not-a-status' });
    assert.deepEqual(invalid.body.issue[0].expression, ['Observation.status']);
    await expectError('PUT', '/Observation/demo-06-glucose', 400, 'invalid', { resourceType: 'Patient', id: 'demo-06-glucose' });
    await expectError('PUT', '/Observation/demo-06-glucose', 400, 'invalid', { ...obs, id: 'another-id' });
    await expectError('POST', '/', 400, 'value', { resourceType: 'Bundle', type: 'collection' });
  });

  it('403 for what the caller\'s role or the patient\'s consent does not allow', STEP, async () => {
    assert.ok(token, 'needs the token obtained above');
    // Only the patient reads their access log.
    await expectError('GET', `/AuditEvent?patient=Patient/${patient}`, 403, 'forbidden');
    // A principal without the patient's consent may not write their record.
    const other = await signIn('OTHER');
    const res = await rawFHIR('POST', '/Observation', {
      accessToken: other.accessToken, body: observation(patient, '8867-4', 'Heart rate', 75, 'beats/minute', 'vital-signs'),
    });
    assert.equal(res.status, 403);
    expectOutcome(res.body, 'forbidden');
  });
});
