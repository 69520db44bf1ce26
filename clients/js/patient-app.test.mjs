// What a patient's app and a directory lookup see: the patient signs in with
// their passphrase (the node keeps their key), reads their own record and
// access log (AuditEvents), grants a Consent to a principal and revokes it,
// and sees a correction of their record waiting for them as a Task;
// a physician looks up Organizations, Practitioners, PractitionerRoles and a
// record's Provenance. Every response body is validated as R4.
//
// Besides carechain.mjs's configuration:
//   CARECHAIN_PATIENT_PASSPHRASE  the patient's passphrase on the node (the demo's is "demo")
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  call, clientWith, describeError, env, expectOutcome, ids, login, rawFHIR, signIn, skipUnconfigured, STEP,
} from './carechain.mjs';

const skip = skipUnconfigured || (!env.CARECHAIN_PATIENT_PASSPHRASE && 'set CARECHAIN_PATIENT_PASSPHRASE');

describe('a patient\'s app and a directory lookup', { skip }, () => {
  const patient = env.CARECHAIN_PATIENT;
  let me; // the patient's client
  let grant; // the Consent the patient grants
  let revoked = false;

  after(async () => {
    // Leave no grant behind for the other files' principal without consent.
    if (grant && !revoked) await me.delete({ resourceType: 'Consent', id: grant.id }).catch(() => {});
  });

  it('signs the patient in and reads their own record without naming them', STEP, async () => {
    const tok = await login(`patient/${patient}`, env.CARECHAIN_PATIENT_PASSPHRASE);
    assert.equal(tok.patient, `Patient/${patient}`);
    me = clientWith(tok.access_token);
    const self = await call('GET Patient', () => me.read({ resourceType: 'Patient', id: patient }));
    assert.equal(self.id, patient);
    const obs = await call('search Observation', () => me.search({ resourceType: 'Observation', searchParams: { _count: '1000' } }));
    assert.ok(obs.entry.every((e) => e.resource.subject.reference === `Patient/${patient}`));
    assert.ok(ids(obs).includes(`${patient}-glucose`), `ids ${ids(obs)}`);
    const all = await call('$everything', () => me.operation({ name: '$everything', resourceType: 'Patient', id: patient, method: 'GET' }));
    assert.ok(all.entry.length >= obs.entry.length);
  });

  it('reads the access log as AuditEvents, whose agents resolve', STEP, async () => {
    assert.ok(me, 'needs the sign-in above');
    // The node anchors its access events every few seconds: wait for the
    // patient's own reads above to be in the log.
    const deadline = Date.now() + 30_000;
    let readers;
    for (;;) {
      const log = await call('search AuditEvent', () => me.search({ resourceType: 'AuditEvent', searchParams: { patient: `Patient/${patient}` } }));
      readers = new Set((log.entry ?? []).flatMap((e) => e.resource.agent.map((a) => a.who?.reference ?? a.who?.display)));
      if (readers.has(`Patient/${patient}`) || Date.now() > deadline) break;
      await new Promise((resolve) => { setTimeout(resolve, 500); });
    }
    assert.ok(readers.has(`Practitioner/${env.CARECHAIN_DR_ID.replace('/', '.')}`), `readers ${[...readers]}`);
    assert.ok(readers.has(`Patient/${patient}`), `the patient's own reads are not theirs: readers ${[...readers]}`);
    for (const ref of [...readers].filter((r) => /^[A-Za-z]+\/[^/]+$/.test(r))) {
      const [resourceType, id] = ref.split('/');
      await call(`resolve ${ref}`, () => me.read({ resourceType, id }));
    }
  });

  it('grants a Consent to read lab results, and revokes it', STEP, async () => {
    assert.ok(me, 'needs the sign-in above');
    const other = await signIn('OTHER');
    const body = {
      resourceType: 'Consent', status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: `Patient/${patient}` },
      provision: {
        type: 'permit',
        actor: [{
          role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] },
          reference: { reference: `Practitioner/${env.CARECHAIN_OTHER_ID.replace('/', '.')}` },
        }],
        action: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'access' }] }],
        purpose: [{ system: 'urn:carechain:purpose', code: 'treatment' }],
        class: [{ system: 'urn:carechain:category', code: 'lab' }],
      },
    };
    grant = await call('POST Consent', () => me.create({ resourceType: 'Consent', body }));
    assert.equal(grant.status, 'active');
    const consents = await call('search Consent', () => me.search({ resourceType: 'Consent', searchParams: { patient: `Patient/${patient}` } }));
    assert.ok(ids(consents).includes(grant.id));

    const lab = await call('read lab as the grantee', () => other.read({ resourceType: 'Observation', id: `${patient}-glucose` }));
    assert.equal(lab.id, `${patient}-glucose`);
    await assert.rejects(other.read({ resourceType: 'Observation', id: `${patient}-heart-rate` }), (err) => {
      assert.equal(err.response?.status, 404, describeError(err));
      return true;
    });

    await call('DELETE Consent', () => me.delete({ resourceType: 'Consent', id: grant.id }));
    revoked = true;
    const res = await rawFHIR('GET', `/Observation/${patient}-glucose`, { accessToken: other.accessToken });
    assert.equal(res.status, 404, 'a revoked grant still lets its grantee read');
    expectOutcome(res.body, 'not-found');
    const after = await call('search Consent', () => me.search({ resourceType: 'Consent', searchParams: { patient: `Patient/${patient}` } }));
    assert.equal(after.entry.find((e) => e.resource.id === grant.id)?.resource.status, 'inactive');
  });

  it('shows a patient a grant to a role at an organization', STEP, async () => {
    // The demo's demo-03 shares lab results with biomed's researchers.
    const tok = await login('patient/demo-03', env.CARECHAIN_PATIENT_PASSPHRASE);
    const p3 = clientWith(tok.access_token);
    const consents = await call('search Consent', () => p3.search({ resourceType: 'Consent', searchParams: { patient: 'Patient/demo-03' } }));
    const toRole = consents.entry?.map((e) => e.resource).find((c) => JSON.stringify(c.provision.actor).includes('biomed'));
    assert.ok(toRole, `no grant to biomed: ${JSON.stringify(consents)}`);
    assert.deepEqual(toRole.provision.class.map((c) => c.code), ['lab']);
  });

  it('shows a patient the correction waiting for their approval as a Task', STEP, async () => {
    // The demo proposes a correction of demo-04's chest X-ray report.
    const tok = await login('patient/demo-04', env.CARECHAIN_PATIENT_PASSPHRASE);
    const p4 = clientWith(tok.access_token);
    const tasks = await call('search Task', () => p4.search({ resourceType: 'Task', searchParams: { patient: 'Patient/demo-04' } }));
    const task = tasks.entry?.find((e) => e.resource.focus.reference.startsWith('DiagnosticReport/demo-04-chest-xray'))?.resource;
    assert.ok(task, `no Task for the correction: ${JSON.stringify(tasks)}`);
    assert.equal(task.for.reference, 'Patient/demo-04');
    const read = await call('read Task', () => p4.read({ resourceType: 'Task', id: task.id }));
    assert.equal(read.id, task.id);
  });

  it('looks up Organizations, Practitioners, roles and a record\'s Provenance', STEP, async () => {
    const dr = await signIn('DR');
    const [org] = env.CARECHAIN_DR_ID.split('/');
    const drID = env.CARECHAIN_DR_ID.replace('/', '.');
    const orgs = await call('search Organization', () => dr.search({ resourceType: 'Organization' }));
    assert.ok(ids(orgs).includes(org), `organizations ${ids(orgs)}`);
    const o = await call('read Organization', () => dr.read({ resourceType: 'Organization', id: org }));
    assert.equal(o.id, org);
    const p = await call('read Practitioner', () => dr.read({ resourceType: 'Practitioner', id: drID }));
    assert.equal(p.identifier[0].value, env.CARECHAIN_DR_ID);
    const roles = await call('search PractitionerRole', () => dr.search({ resourceType: 'PractitionerRole', searchParams: { organization: `Organization/${org}` } }));
    assert.ok(roles.entry.some((e) => e.resource.practitioner.reference === `Practitioner/${drID}`));
    const none = await call('search Practitioner by a name nobody has', () => dr.search({ resourceType: 'Practitioner', searchParams: { name: 'no-such-name' } }));
    assert.equal(none.total, 0);
    const prov = await call('search Provenance', () => dr.search({ resourceType: 'Provenance', searchParams: { target: `Observation/${patient}-glucose` } }));
    assert.ok(prov.total >= 1);
    assert.ok(prov.entry.every((e) => e.resource.target.some((t) => t.reference.startsWith(`Observation/${patient}-glucose`))));
    const tasks = await call('search Task', () => dr.search({ resourceType: 'Task' }));
    assert.equal(tasks.type, 'searchset');
  });
});
