// A hospital's workflow across organizations, each step a FHIR resource:
// the desk publishes a Schedule and a Slot and books an Appointment in it
// (a second booking of the Slot is refused by the ledger), a physician
// prescribes, the patient lets a pharmacy read and dispense medication,
// the pharmacy dispenses a fill and a refill and is refused a third, a
// physician orders a test of another organization's lab, which reads the
// order and reports on it until the order is completed, and the desk invoices charges priced from its catalogue, which the patient
// reads. Staff sign in with their passphrase (custodial keys on the
// node). Every response body is validated as R4.
//
// Besides carechain.mjs's configuration:
//   CARECHAIN_PATIENT_PASSPHRASE  the patient's passphrase on the node
//   CARECHAIN_STAFF_PASSPHRASE    the desk's and the pharmacist's (the demo's is "demo")
//   CARECHAIN_DESK_ID             a registration clerk of the patient's hospital (st-mary/clerk-singh)
//   CARECHAIN_PHARMACIST_ID       a pharmacist of another organization (greenleaf/ph-rossi)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  env, expectOutcome, login, rawFHIR, signIn, skipUnconfigured, STEP,
} from './carechain.mjs';

const missing = ['CARECHAIN_PATIENT_PASSPHRASE', 'CARECHAIN_STAFF_PASSPHRASE', 'CARECHAIN_DESK_ID', 'CARECHAIN_PHARMACIST_ID'].filter((k) => !env[k]);
const skip = skipUnconfigured || (missing.length > 0 && `set ${missing.join(', ')}`);

describe('a hospital books, prescribes, dispenses and invoices', { skip }, () => {
  const patient = env.CARECHAIN_PATIENT;
  const who = {};
  const as = (name) => (method, path, opts = {}) => rawFHIR(method, path, { accessToken: who[name], ...opts });
  let slot;
  let rx;
  let grant;

  it('signs in the desk, the physician, the pharmacist and the patient', STEP, async () => {
    who.desk = (await login(env.CARECHAIN_DESK_ID, env.CARECHAIN_STAFF_PASSPHRASE)).access_token;
    who.pharmacist = (await login(env.CARECHAIN_PHARMACIST_ID, env.CARECHAIN_STAFF_PASSPHRASE)).access_token;
    who.patient = (await login(`patient/${patient}`, env.CARECHAIN_PATIENT_PASSPHRASE)).access_token;
    who.dr = (await signIn('DR')).accessToken;
  });

  it('books the only Appointment a Slot takes', STEP, async () => {
    assert.ok(who.desk, 'needs the sign-ins above');
    const schedule = await as('desk')('POST', '/Schedule', { body: { resourceType: 'Schedule', active: true, actor: [{ reference: 'Practitioner/st-mary.dr-chen' }] } });
    assert.equal(schedule.status, 201, JSON.stringify(schedule.body));
    const free = await as('desk')('POST', '/Slot', {
      body: { resourceType: 'Slot', schedule: { reference: `Schedule/${schedule.body.id}` }, status: 'free', start: '2031-05-06T09:00:00Z', end: '2031-05-06T09:20:00Z' },
    });
    assert.equal(free.status, 201, JSON.stringify(free.body));
    slot = free.body.id;
    const appointment = {
      resourceType: 'Appointment', status: 'booked', slot: [{ reference: `Slot/${slot}` }],
      start: '2031-05-06T09:00:00Z', end: '2031-05-06T09:20:00Z',
      participant: [{ actor: { reference: `Patient/${patient}` }, status: 'accepted' }, { actor: { reference: 'Practitioner/st-mary.dr-chen' }, status: 'accepted' }],
    };
    const booked = await as('desk')('POST', '/Appointment', { body: appointment });
    assert.equal(booked.status, 201, JSON.stringify(booked.body));
    const busy = await as('desk')('GET', `/Slot/${slot}`);
    assert.equal(busy.body.status, 'busy');
    const again = await as('desk')('POST', '/Appointment', { body: appointment });
    assert.equal(again.status, 409);
    expectOutcome(again.body, 'conflict');
  });

  it('prescribes, and the patient lets a pharmacy dispense', STEP, async () => {
    assert.ok(who.dr, 'needs the sign-ins above');
    const prescribed = await as('dr')('POST', '/MedicationRequest', {
      body: {
        resourceType: 'MedicationRequest', status: 'active', intent: 'order', subject: { reference: `Patient/${patient}` },
        medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '197361', display: 'Amlodipine 5 MG Oral Tablet' }] },
        dispenseRequest: { numberOfRepeatsAllowed: 1, quantity: { value: 30, unit: 'tablet' } },
      },
    });
    assert.equal(prescribed.status, 201, JSON.stringify(prescribed.body));
    rx = prescribed.body.id;
    const pharmacy = env.CARECHAIN_PHARMACIST_ID.split('/')[0];
    const consent = await as('patient')('POST', '/Consent', {
      body: {
        resourceType: 'Consent', status: 'active',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
        category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
        patient: { reference: `Patient/${patient}` },
        provision: {
          type: 'permit', actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference: `Organization/${pharmacy}` } }],
          action: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'access' }] }, { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'correct' }] }],
          purpose: [{ system: 'urn:carechain:purpose', code: 'treatment' }],
          class: [{ system: 'urn:carechain:category', code: 'medication' }],
        },
      },
    });
    assert.equal(consent.status, 201, JSON.stringify(consent.body));
    grant = consent.body.id;
  });

  it('dispenses a fill and a refill, and no more', STEP, async () => {
    assert.ok(rx && grant, 'needs the prescription and the grant above');
    const read = await as('pharmacist')('GET', `/MedicationRequest/${rx}`);
    assert.equal(read.status, 200, JSON.stringify(read.body));
    const dispense = (value) => as('pharmacist')('POST', '/MedicationDispense', {
      body: {
        resourceType: 'MedicationDispense', status: 'completed', subject: { reference: `Patient/${patient}` },
        authorizingPrescription: [{ reference: `MedicationRequest/${rx}` }],
        medicationCodeableConcept: read.body.medicationCodeableConcept, quantity: { value, unit: 'tablet' },
      },
    });
    for (const q of [30, 30]) {
      const res = await dispense(q);
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    const past = await dispense(1);
    assert.equal(past.status, 409);
    expectOutcome(past.body, 'conflict');
    assert.match(past.body.issue[0].diagnostics, /60 in all; 60 was dispensed/);
  });

  it('orders a test of another organization\'s lab, which reports while the order is open', STEP, async () => {
    assert.ok(who.dr && who.patient, 'needs the sign-ins above');
    const lab = env.CARECHAIN_OTHER_ID.split('/')[0];
    const tech = (await signIn('OTHER')).accessToken;
    const order = {
      resourceType: 'ServiceRequest', status: 'active', intent: 'order', subject: { reference: `Patient/${patient}` },
      category: [{ coding: [{ system: 'http://snomed.info/sct', code: '108252007', display: 'Laboratory procedure' }] }],
      code: { coding: [{ system: 'http://loinc.org', code: '4548-4', display: 'Hemoglobin A1c' }] },
      performer: [{ reference: `Organization/${lab}` }],
    };
    const placed = await as('dr')('POST', '/ServiceRequest', { body: order });
    assert.equal(placed.status, 201, JSON.stringify(placed.body));
    const id = placed.body.id;
    const seen = await rawFHIR('GET', `/ServiceRequest/${id}`, { accessToken: tech });
    assert.equal(seen.status, 200, JSON.stringify(seen.body));
    const result = {
      resourceType: 'Observation', status: 'final', basedOn: [{ reference: `ServiceRequest/${id}` }],
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
      code: order.code, subject: { reference: `Patient/${patient}` },
      valueQuantity: { value: 6.1, unit: '%', system: 'http://unitsofmeasure.org', code: '%' },
    };
    const reported = await rawFHIR('POST', '/Observation', { accessToken: tech, body: result });
    assert.equal(reported.status, 201, JSON.stringify(reported.body));
    const consents = await as('patient')('GET', `/Consent?patient=Patient/${patient}`);
    assert.equal(consents.status, 200);
    const orderGrant = consents.body.entry.map((e) => e.resource)
      .find((c) => c.extension?.some((x) => x.url === 'urn:carechain:order-grant' && x.valueReference.reference === `ServiceRequest/${id}`));
    assert.ok(orderGrant, 'the patient sees the order\'s grant');
    assert.equal(orderGrant.status, 'active');
    assert.equal(orderGrant.provision.actor[0].reference.reference, `Organization/${lab}`);
    const done = await as('dr')('PUT', `/ServiceRequest/${id}`, { body: { ...order, id, status: 'completed' } });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    const late = await rawFHIR('POST', '/Observation', { accessToken: tech, body: result });
    assert.equal(late.status, 409);
    expectOutcome(late.body, 'conflict');
    const closed = await as('patient')('GET', `/Consent/${orderGrant.id}`);
    assert.equal(closed.body.status, 'inactive');
  });

  it('invoices charges priced from the catalogue, which the patient reads', STEP, async () => {
    assert.ok(who.desk, 'needs the sign-ins above');
    const url = `https://st-mary.example/fees/consultation-${Date.now()}`;
    const def = await as('desk')('POST', '/ChargeItemDefinition', {
      body: { resourceType: 'ChargeItemDefinition', url, status: 'active', propertyGroup: [{ priceComponent: [{ type: 'base', amount: { value: 80, currency: 'EUR' } }] }] },
    });
    assert.equal(def.status, 201, JSON.stringify(def.body));
    const item = await as('desk')('POST', '/ChargeItem', {
      body: { resourceType: 'ChargeItem', status: 'billable', code: { text: 'Consultation' }, subject: { reference: `Patient/${patient}` }, definitionCanonical: [url], quantity: { value: 2 } },
    });
    assert.equal(item.status, 201, JSON.stringify(item.body));
    const invoice = await as('desk')('POST', '/Invoice', {
      body: { resourceType: 'Invoice', status: 'issued', subject: { reference: `Patient/${patient}` }, lineItem: [{ chargeItemReference: { reference: `ChargeItem/${item.body.id}` } }] },
    });
    assert.equal(invoice.status, 201, JSON.stringify(invoice.body));
    assert.deepEqual(invoice.body.totalGross, { value: 160, currency: 'EUR' });
    const mine = await as('patient')('GET', `/Invoice/${invoice.body.id}`);
    assert.equal(mine.status, 200);
    assert.equal(mine.body.lineItem[0].priceComponent[0].amount.value, 160);
  });
});
