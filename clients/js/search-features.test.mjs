// The search features and reads an EHR integration reaches for after the
// basics: chained parameters through the Patient (identifier and name,
// with the :Patient type modifier and an absolute-URL reference), _has,
// :text, _total, the date prefixes sa, eb and ap, If-Modified-Since, a
// Consent and an AuditEvent read by the id their searches give (the
// AuditEvent by the patient only), CORS for a browser app's origin; the
// modifiers :not, :missing, :exact and :contains, _summary=true,
// _include:iterate, $everything's start, end and _since, a Patient-level
// $export with _since, the CapabilityStatement's SMART endpoints and XML
// refused by Accept.
// Every FHIR response body is validated as R4.
//
// Besides carechain.mjs's configuration:
//   CARECHAIN_PATIENT_PASSPHRASE  the patient's passphrase on the node
//   CARECHAIN_CORS_ORIGIN         an origin the node allows (--cors-origin)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  base, env, expectOutcome, LOINC, login, observation, rawFHIR, signIn, skipUnconfigured, STEP,
} from './carechain.mjs';
import { expectValid } from './fhir-validate.mjs';

const skip = skipUnconfigured
  || (!env.CARECHAIN_PATIENT_PASSPHRASE && 'set CARECHAIN_PATIENT_PASSPHRASE')
  || (!env.CARECHAIN_CORS_ORIGIN && 'set CARECHAIN_CORS_ORIGIN');

// Three dates two years apart: ap (within a tenth of the time to now) of
// the middle one finds it alone.
const DATES = ['2020-01-10T08:00:00Z', '2022-01-10T08:00:00Z', '2024-01-10T08:00:00Z'];

describe('an integrator uses chains, _has, :text, _total, date prefixes and conditional reads', { skip }, () => {
  const patient = env.CARECHAIN_PATIENT;
  const tag = randomUUID();
  const SYSTEM = 'urn:example:features';
  const made = []; // ids in DATES order
  let dr;
  let me; // the patient's token
  const fhir = (method, path, opts = {}) => rawFHIR(method, path, { accessToken: dr.accessToken, ...opts });
  // found runs an Observation search limited to this run's records and
  // returns the ids it finds, sorted.
  const found = async (query) => {
    const idents = made.map((_, i) => `${SYSTEM}|${tag}-${i}`).join(',');
    const res = await fhir('GET', `/Observation?identifier=${encodeURIComponent(idents)}&${query}`);
    assert.equal(res.status, 200, `${query}: ${JSON.stringify(res.body)}`);
    return (res.body.entry ?? []).map((e) => e.resource.id).sort();
  };
  const pick = (...i) => i.map((n) => made[n]).sort();
  // ofPatient is found within the patient's records (identifier is not a
  // parameter the cross-patient index serves).
  const ofPatient = (query) => found(`patient=Patient/${patient}&${query}`);

  it('writes body weights on three dates, coded with a text', STEP, async () => {
    dr = await signIn('DR');
    for (const [i, date] of DATES.entries()) {
      const body = {
        ...observation(patient, '29463-7', 'Body weight', 70 + i, 'kg', 'vital-signs'),
        effectiveDateTime: date,
        identifier: [{ system: SYSTEM, value: `${tag}-${i}` }],
      };
      body.code.text = `Weighed ${tag}`;
      const res = await fhir('POST', '/Observation', { body });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      made.push(res.body.id);
    }
  });

  it('chains through the Patient by identifier and by name, and takes reference forms', STEP, async () => {
    assert.equal(made.length, 3, 'needs the Observations written above');
    const self = await fhir('GET', `/Patient/${patient}`);
    const ident = self.body.identifier[0];
    const family = self.body.name[0].family;
    const all = pick(0, 1, 2);
    assert.deepEqual(await found(`subject:Patient.identifier=${encodeURIComponent(`${ident.system}|${ident.value}`)}`), all);
    assert.deepEqual(await found(`patient.family=${encodeURIComponent(family.toLowerCase())}`), all);
    assert.deepEqual(await found('patient.identifier=no-such-identifier'), []);
    assert.deepEqual(await found(`subject:Patient=${patient}`), all);
    assert.deepEqual(await found(`patient=${encodeURIComponent(`${base}/Patient/${patient}`)}`), all);
    const bad = await fhir('GET', '/Observation?patient.nope=1');
    assert.equal(bad.status, 400);
    expectOutcome(bad.body);
  });

  it('finds the Patient that an Observation refers to with _has', STEP, async () => {
    assert.equal(made.length, 3, 'needs the Observations written above');
    const has = (ident) => fhir('GET', `/Patient?_id=${patient}&_has:Observation:patient:identifier=${encodeURIComponent(ident)}`);
    const yes = await has(`${SYSTEM}|${tag}-1`);
    assert.equal(yes.status, 200);
    assert.deepEqual(yes.body.entry.map((e) => e.resource.id), [patient]);
    const no = await has(`${SYSTEM}|${tag}-none`);
    assert.equal(no.status, 200);
    assert.equal(no.body.entry, undefined);
    const bad = await fhir('GET', `/Patient?_id=${patient}&_has:Observation:nope:code=x`);
    assert.equal(bad.status, 400);
    expectOutcome(bad.body);
  });

  it('matches a code\'s text with :text, and counts with _total', STEP, async () => {
    assert.equal(made.length, 3, 'needs the Observations written above');
    assert.deepEqual(await ofPatient(`code:text=${encodeURIComponent(`weighed ${tag}`)}`), pick(0, 1, 2));
    assert.deepEqual(await ofPatient('code:text=body%20weight'), pick(0, 1, 2), 'the coding\'s display');
    assert.deepEqual(await ofPatient('code:text=weight'), [], 'the text\'s start, not any word in it');
    const idents = made.map((_, i) => `${SYSTEM}|${tag}-${i}`).join(',');
    const counted = await fhir('GET', `/Observation?patient=Patient/${patient}&identifier=${encodeURIComponent(idents)}&_total=accurate&_count=1`);
    assert.equal(counted.body.total, 3);
    assert.equal(counted.body.entry.length, 1);
    const uncounted = await fhir('GET', `/Observation?patient=Patient/${patient}&identifier=${encodeURIComponent(idents)}&_total=none&_count=1`);
    assert.equal(uncounted.body.total, undefined);
  });

  it('takes the date prefixes sa, eb and ap, and refuses a date that is not one', STEP, async () => {
    assert.equal(made.length, 3, 'needs the Observations written above');
    assert.deepEqual(await ofPatient('date=sa2022-01-10'), pick(2));
    assert.deepEqual(await ofPatient('date=eb2022-01-10'), pick(0));
    assert.deepEqual(await ofPatient('date=ap2022-01-10'), pick(1));
    assert.deepEqual(await ofPatient('date=ge2020-01-10&date=lt2024-01-01'), pick(0, 1));
    const bad = await fhir('GET', '/Observation?patient=Patient/x&date=gt2022-13-45');
    assert.equal(bad.status, 400);
    expectOutcome(bad.body);
  });

  it('answers If-Modified-Since with 304 when nothing changed since', STEP, async () => {
    assert.equal(made.length, 3, 'needs the Observations written above');
    const first = await fhir('GET', `/Observation/${made[0]}`);
    const updated = new Date(first.body.meta.lastUpdated);
    const later = new Date(updated.getTime() + 60_000).toUTCString();
    const earlier = new Date(updated.getTime() - 60_000).toUTCString();
    const same = await fhir('GET', `/Observation/${made[0]}`, { headers: { 'if-modified-since': later } });
    assert.equal(same.status, 304);
    assert.equal(same.body, undefined);
    const changed = await fhir('GET', `/Observation/${made[0]}`, { headers: { 'if-modified-since': earlier } });
    assert.equal(changed.status, 200);
    assert.equal(changed.body.id, made[0]);
  });

  it('reads a Consent and an AuditEvent by the ids their searches give, the AuditEvent as the patient only', STEP, async () => {
    me = await login(`patient/${patient}`, env.CARECHAIN_PATIENT_PASSPHRASE);
    const mine = (method, path) => rawFHIR(method, path, { accessToken: me.access_token });
    const consents = await mine('GET', `/Consent?patient=Patient/${patient}`);
    assert.ok(consents.body.entry?.length > 0, 'the demo patient has consents');
    assert.ok(consents.body.link.some((l) => l.relation === 'self' && l.url.includes('/fhir/Consent?')), 'a self link');
    const consentID = consents.body.entry[0].resource.id;
    const consent = await mine('GET', `/Consent/${consentID}`);
    assert.equal(consent.status, 200);
    assert.equal(consent.body.id, consentID);
    assert.equal(consent.body.resourceType, 'Consent');
    const events = await mine('GET', `/AuditEvent?patient=Patient/${patient}`);
    assert.ok(events.body.entry?.length > 0, 'the patient\'s access log has events');
    const eventID = events.body.entry[0].resource.id;
    const event = await mine('GET', `/AuditEvent/${eventID}`);
    assert.equal(event.status, 200);
    assert.equal(event.body.id, eventID);
    const byDoctor = await fhir('GET', `/AuditEvent/${eventID}`);
    assert.equal(byDoctor.status, 404);
    expectOutcome(byDoctor.body);
    const missing = await mine('GET', '/Consent/no-such-consent');
    assert.equal(missing.status, 404);
    expectOutcome(missing.body);
  });

  it('answers a browser app\'s CORS preflight and requests from an allowed origin only', STEP, async () => {
    assert.ok(dr, 'needs the client signed in above');
    const origin = env.CARECHAIN_CORS_ORIGIN;
    const preflight = await fetch(`${base}/Observation`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), origin);
    assert.match(preflight.headers.get('access-control-allow-methods'), /POST/);
    assert.match(preflight.headers.get('access-control-allow-headers').toLowerCase(), /authorization/);
    const read = await fhir('GET', `/Observation/${made[0]}`, { headers: { origin } });
    assert.equal(read.status, 200);
    assert.equal(read.headers.get('access-control-allow-origin'), origin);
    assert.match(read.headers.get('access-control-expose-headers').toLowerCase(), /etag/);
    const stranger = 'https://stranger.example';
    const refused = await rawFHIR('OPTIONS', '/Observation', { headers: { origin: stranger, 'access-control-request-method': 'GET' } });
    assert.equal(refused.status, 403);
    expectOutcome(refused.body);
    const plain = await fhir('GET', `/Observation/${made[0]}`, { headers: { origin: stranger } });
    assert.equal(plain.headers.get('access-control-allow-origin'), null);
  });
});


describe('an integrator uses modifiers, _summary, :iterate, $everything dates and a Patient-level export', { skip }, () => {
  const patient = env.CARECHAIN_PATIENT;
  const tag = randomUUID();
  const SYSTEM = 'urn:example:features-2';
  const made = []; // Observation ids in DATES order
  let dr;
  let since; // an instant before this describe's writes
  const fhir = (method, path, opts = {}) => rawFHIR(method, path, { accessToken: dr.accessToken, ...opts });
  const ofPatient = async (typ, query) => {
    const res = await fhir('GET', `/${typ}?patient=Patient/${patient}&${query}`);
    assert.equal(res.status, 200, `${query}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const mine = (bundle) => (bundle.entry ?? []).map((e) => e.resource.id).filter((id) => made.includes(id)).sort();

  it('finds the server\'s SMART endpoints in the CapabilityStatement, and refuses XML by Accept', STEP, async () => {
    dr = await signIn('DR');
    const cap = await fhir('GET', '/metadata');
    const security = cap.body.rest[0].security;
    assert.ok(security.service.some((s) => s.coding.some((c) => c.code === 'SMART-on-FHIR')));
    const uris = security.extension.find((x) => x.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris');
    assert.ok(uris.extension.some((x) => x.url === 'token' && x.valueUri === env.CARECHAIN_TOKEN_URL), JSON.stringify(uris));
    const xml = await fhir('GET', `/Patient/${patient}`, { headers: { accept: 'application/fhir+xml' } });
    assert.equal(xml.status, 406);
    expectOutcome(xml.body, 'not-supported');
  });

  it('writes three glucose results and a report of them', STEP, async () => {
    assert.ok(dr, 'needs the client signed in above');
    since = new Date(Date.now() - 2000).toISOString();
    for (const [i, date] of DATES.entries()) {
      const body = { ...observation(patient, '2345-7', 'Glucose', 90 + i, 'mg/dL', 'laboratory'), effectiveDateTime: date, identifier: [{ system: SYSTEM, value: `${tag}-${i}` }] };
      const res = await fhir('POST', '/Observation', { body });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      made.push(res.body.id);
    }
    const report = await fhir('POST', '/DiagnosticReport', {
      body: {
        resourceType: 'DiagnosticReport', status: 'final', code: { coding: [{ system: LOINC, code: '24323-8' }] },
        subject: { reference: `Patient/${patient}` }, result: made.map((id) => ({ reference: `Observation/${id}` })),
        identifier: [{ system: SYSTEM, value: `${tag}-report` }],
      },
    });
    assert.equal(report.status, 201, JSON.stringify(report.body));
    made.report = report.body.id;
  });

  it('takes the modifiers :not, :missing, :exact and :contains', STEP, async () => {
    assert.equal(made.length, 3, 'needs the Observations written above');
    const ident = `identifier=${encodeURIComponent(made.map((_, i) => `${SYSTEM}|${tag}-${i}`).join(','))}`;
    assert.deepEqual(mine(await ofPatient('Observation', `${ident}&status:not=final`)), []);
    assert.deepEqual(mine(await ofPatient('Observation', `${ident}&status:not=cancelled`)), [...made].sort());
    assert.deepEqual(mine(await ofPatient('Observation', `${ident}&performer:missing=true`)), [...made].sort(), 'written without a performer');
    assert.deepEqual(mine(await ofPatient('Observation', `${ident}&performer:missing=false`)), []);
    assert.deepEqual(mine(await ofPatient('Observation', `${ident}&code:missing=false`)), [...made].sort());
    const self = await fhir('GET', `/Patient/${patient}`);
    const family = self.body.name[0].family;
    const named = async (query) => (await fhir('GET', `/Patient?_id=${patient}&${query}`)).body.entry?.length ?? 0;
    assert.equal(await named(`family:exact=${encodeURIComponent(family)}`), 1);
    assert.equal(await named(`family:exact=${encodeURIComponent(family.toUpperCase())}`), family === family.toUpperCase() ? 1 : 0);
    assert.equal(await named(`family:contains=${encodeURIComponent(family.slice(1, -1).toLowerCase())}`), 1);
    assert.equal(await named('family:contains=zzqq'), 0);
  });

  it('summarizes with _summary=true, and includes one level further with :iterate', STEP, async () => {
    assert.ok(made.report, 'needs the report written above');
    const summary = await ofPatient('Observation', `_id=${made[0]}&_summary=true`);
    const res = summary.entry[0].resource;
    assert.ok(res.meta.tag.some((t) => t.code === 'SUBSETTED'));
    assert.equal(res.category, undefined, 'category is not a summary element of Observation');
    assert.equal(res.identifier[0].system, SYSTEM, 'identifier is one');
    assert.equal(res.valueQuantity.value, 90);
    const iter = await ofPatient('DiagnosticReport', `_id=${made.report}&_include=DiagnosticReport:result&_include:iterate=Observation:patient`);
    const modes = iter.entry.map((e) => `${e.search.mode} ${e.resource.resourceType}/${e.resource.id}`);
    assert.ok(modes.includes(`match DiagnosticReport/${made.report}`), modes.join(', '));
    for (const id of made) assert.ok(modes.includes(`include Observation/${id}`), modes.join(', '));
    assert.ok(modes.includes(`include Patient/${patient}`), modes.join(', '));
  });

  it('bounds Patient/$everything by care dates and by _since', STEP, async () => {
    assert.equal(made.length, 3, 'needs the Observations written above');
    const everything = async (query) => {
      const res = await fhir('GET', `/Patient/${patient}/$everything?_type=Observation&_count=1000&${query}`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body;
    };
    assert.deepEqual(mine(await everything('start=2021-01-01&end=2023-01-01')), [made[1]]);
    assert.deepEqual(mine(await everything('start=2023-01-01')), [made[2]]);
    const recent = await everything(`_since=${encodeURIComponent(since)}`);
    assert.deepEqual(mine(recent), [...made].sort());
    assert.ok(recent.entry.every((e) => e.resource.meta.lastUpdated >= since.slice(0, 19)), 'nothing older than _since');
  });

  it('exports the organization\'s patients\' Observations since an instant with Patient/$export', STEP, async () => {
    assert.equal(made.length, 3, 'needs the Observations written above');
    const auth = { authorization: `Bearer ${dr.accessToken}` };
    const kick = await fetch(`${base}/Patient/$export?_type=Observation&_since=${encodeURIComponent(since)}`, {
      headers: { ...auth, prefer: 'respond-async', accept: 'application/fhir+json' },
    });
    assert.equal(kick.status, 202, await kick.text());
    const manifest = await (await fetch(kick.headers.get('content-location'), { headers: auth })).json();
    const exported = [];
    for (const out of manifest.output) {
      assert.equal(out.type, 'Observation');
      const text = await (await fetch(out.url, { headers: auth })).text();
      for (const line of text.split('\n').filter(Boolean)) {
        const res = JSON.parse(line);
        expectValid(res, 'exported Observation');
        assert.ok(res.meta.lastUpdated >= since.slice(0, 19), `${res.id} is older than _since`);
        exported.push(res.id);
      }
    }
    for (const id of made) assert.ok(exported.includes(id), `${id} exported`);
  });
});
