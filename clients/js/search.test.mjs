// Search as an integrator uses it: one patient's Observations by several
// parameters, paging by following next links, _sort and _lastUpdated; and
// search across patients (without patient=) by Patient identifier, family
// name and birth date, and Observation code, which finds only the patients
// whose records the caller may read. Every response body is validated as R4.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  call, env, ids, LOINC, observation, signIn, skipUnconfigured, STEP,
} from './carechain.mjs';

const CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';

describe('an integrator searches', { skip: skipUnconfigured }, () => {
  const patient = env.CARECHAIN_PATIENT;
  const tag = randomUUID(); // identifies this run's Observations
  let dr;
  const made = []; // { id, code, date, category, lastUpdated }

  // search runs a search as the physician and returns the Bundle.
  const search = (resourceType, searchParams) => call(`search ${resourceType} ${JSON.stringify(searchParams)}`,
    () => dr.search({ resourceType, searchParams }));
  // mine keeps the ids of this run's Observations, in the Bundle's order.
  const mine = (bundle) => ids(bundle).filter((id) => made.some((m) => m.id === id));
  const idsOf = (pred) => made.filter(pred).map((m) => m.id).sort();

  it('writes Observations with different codes, categories and dates', STEP, async () => {
    dr = await signIn('DR');
    const specs = [
      ['8867-4', 'Heart rate', 61, 'beats/minute', 'vital-signs', '2025-01-10T08:00:00Z'],
      ['8867-4', 'Heart rate', 66, 'beats/minute', 'vital-signs', '2025-03-10T08:00:00Z'],
      ['2345-7', 'Glucose', 95, 'mg/dL', 'laboratory', '2025-02-10T08:00:00Z'],
      ['8310-5', 'Body temperature', 36.9, 'Cel', 'vital-signs', '2025-04-10T08:00:00Z'],
      ['2345-7', 'Glucose', 110, 'mg/dL', 'laboratory', '2025-05-10T08:00:00Z'],
    ];
    for (const [code, display, value, unit, category, date] of specs) {
      const body = {
        ...observation(patient, code, display, value, unit, category),
        effectiveDateTime: date, identifier: [{ system: 'urn:example:search-run', value: `${tag}-${made.length}` }],
      };
      const res = await call('POST Observation', () => dr.create({ resourceType: 'Observation', body }));
      made.push({ id: res.id, code, category, date, lastUpdated: res.meta.lastUpdated });
    }
  });

  it('combines parameters of one patient\'s search', STEP, async () => {
    assert.equal(made.length, 5, 'needs the Observations written above');
    const p = `Patient/${patient}`;
    const cases = [
      [{ patient: p, code: `${LOINC}|8867-4` }, (m) => m.code === '8867-4'],
      [{ subject: p, code: `${LOINC}|8867-4,${LOINC}|8310-5` }, (m) => m.code !== '2345-7'],
      [{ patient: p, category: `${CATEGORY}|laboratory` }, (m) => m.category === 'laboratory'],
      [{ patient: p, code: `${LOINC}|2345-7`, date: 'ge2025-03-01' }, (m) => m.code === '2345-7' && m.date >= '2025-03'],
      [{ patient: p, date: ['ge2025-02-01', 'lt2025-04-01'] }, (m) => m.date >= '2025-02' && m.date < '2025-04'],
      [{ patient: p, status: 'final', category: `${CATEGORY}|vital-signs`, date: 'le2025-03-10' }, (m) => m.category === 'vital-signs' && m.date < '2025-03-11'],
      [{ patient: p, identifier: `urn:example:search-run|${tag}-2` }, (m) => m === made[2]],
      [{ patient: p, _id: `${made[0].id},${made[4].id}` }, (m) => m === made[0] || m === made[4]],
    ];
    for (const [params, want] of cases) {
      const bundle = await search('Observation', { ...params, _count: '1000' });
      assert.equal(bundle.type, 'searchset');
      assert.deepEqual(mine(bundle).sort(), idsOf(want), `Observation?${new URLSearchParams(params)}`);
      assert.ok(bundle.entry?.every((e) => e.search?.mode === 'match' && e.fullUrl.endsWith(`/Observation/${e.resource.id}`)));
      assert.equal(bundle.total, bundle.entry?.length ?? 0);
    }
  });

  it('pages with _count, following next links to the end', STEP, async () => {
    assert.equal(made.length, 5, 'needs the Observations written above');
    const all = await search('Observation', { patient: `Patient/${patient}`, _count: '1000' });
    let page = await search('Observation', { patient: `Patient/${patient}`, _count: '2' });
    const seen = [];
    for (let pages = 1; ; pages++) {
      assert.ok(pages <= 100, 'next links do not end');
      assert.ok((page.entry?.length ?? 0) <= 2, `a page of _count=2 has ${page.entry?.length} entries`);
      assert.equal(page.total, all.total, 'total differs between pages');
      seen.push(...ids(page));
      if (!page.link?.some((l) => l.relation === 'next')) break;
      page = await call('next page', () => dr.nextPage({ bundle: page }));
    }
    assert.equal(new Set(seen).size, seen.length, `a resource came twice: ${seen}`);
    assert.deepEqual([...seen].sort(), ids(all).sort());
  });

  it('sorts by date and by _lastUpdated, ascending and descending', STEP, async () => {
    assert.equal(made.length, 5, 'needs the Observations written above');
    const dateOf = Object.fromEntries(made.map((m) => [m.id, m.date]));
    const byDate = [...made].sort((a, b) => a.date.localeCompare(b.date)).map((m) => m.id);
    const asc = await search('Observation', { patient: `Patient/${patient}`, _sort: 'date', _count: '1000' });
    assert.deepEqual(mine(asc), byDate, `ascending: ${mine(asc).map((id) => dateOf[id])}`);
    const desc = await search('Observation', { patient: `Patient/${patient}`, _sort: '-date', _count: '1000' });
    assert.deepEqual(mine(desc), [...byDate].reverse());
    const updated = await search('Observation', { patient: `Patient/${patient}`, _sort: '-_lastUpdated', _count: '1000' });
    const times = updated.entry.map((e) => e.resource.meta.lastUpdated);
    assert.deepEqual(times, [...times].sort().reverse(), 'not newest first');
  });

  it('filters by _lastUpdated', STEP, async () => {
    assert.equal(made.length, 5, 'needs the Observations written above');
    const first = made[0].lastUpdated;
    const since = await search('Observation', { patient: `Patient/${patient}`, _lastUpdated: `ge${first}`, _count: '1000' });
    assert.deepEqual(mine(since).sort(), idsOf(() => true));
    assert.ok(since.entry.every((e) => e.resource.meta.lastUpdated >= first));
    const before = await search('Observation', { patient: `Patient/${patient}`, _lastUpdated: `lt${first}`, _count: '1000' });
    assert.deepEqual(mine(before), []);
    assert.ok((before.entry ?? []).every((e) => e.resource.meta.lastUpdated < first));
  });

  it('finds a patient across patients by identifier, and by family name and birth date', STEP, async () => {
    assert.ok(dr, 'needs the token obtained above');
    // The demo's physician at st-mary wrote the even-numbered patients' records.
    const byIdentifier = await search('Patient', { identifier: 'urn:carechain:demo|patient/demo-04' });
    assert.deepEqual(ids(byIdentifier), ['demo-04']);
    const byName = await search('Patient', { family: 'Mensah', birthdate: '1968-01-22' });
    assert.deepEqual(ids(byName).sort(), ['demo-04', 'demo-14']);
    assert.ok(byName.entry.every((e) => e.resource.name[0].family === 'Mensah' && e.resource.birthDate === '1968-01-22'));
    // demo-05 and demo-15 are Sofia Lindgren, registered at city-general: not readable here.
    const elsewhere = await search('Patient', { family: 'Lindgren', birthdate: '2001-06-17' });
    assert.equal(elsewhere.total, 0);
    assert.equal(elsewhere.entry, undefined);
  });

  it('finds Observations by code across the patients that let the caller read them', STEP, async () => {
    assert.ok(dr, 'needs the token obtained above');
    const hr = await search('Observation', { code: `${LOINC}|8867-4`, _count: '1000' });
    const subjects = new Set(hr.entry.map((e) => e.resource.subject.reference));
    assert.ok(hr.entry.every((e) => e.resource.code.coding.some((c) => c.system === LOINC && c.code === '8867-4')));
    assert.ok(subjects.has(`Patient/${patient}`) && subjects.has('Patient/demo-02'), `subjects ${[...subjects]}`);
    // demo-01 granted the physician its vital signs; demo-03 granted nothing.
    assert.ok(subjects.has('Patient/demo-01'), 'a patient\'s grant is not honoured by search');
    assert.ok(!subjects.has('Patient/demo-03'), 'search found a patient that granted nothing');
    for (const id of idsOf((m) => m.code === '8867-4')) {
      assert.ok(ids(hr).includes(id), `Observation/${id} written in this run is not found by code`);
    }

    const other = await signIn('OTHER');
    for (const [type, params] of [['Patient', { family: 'Mensah', birthdate: '1968-01-22' }], ['Observation', { code: `${LOINC}|8867-4` }]]) {
      const found = await call(`search ${type} as the other principal`, () => other.search({ resourceType: type, searchParams: params }));
      assert.equal(found.total, 0, `${type} found without consent: ${ids(found)}`);
    }
  });
});
