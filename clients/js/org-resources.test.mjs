// Organization resources as a scheduling integration uses them: a
// physician publishes a Schedule and its Slots (stored in plain on the
// ledger, signed by their organization), a practitioner of another
// organization finds the free ones, the physician books one by an update
// with If-Match, and a resource naming a patient is refused. Every
// response body is validated as R4.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  expectOutcome, rawFHIR, signIn, skipUnconfigured, STEP,
} from './carechain.mjs';

describe('a scheduling integration publishes and finds Slots', { skip: skipUnconfigured }, () => {
  let dr;
  let other;
  let schedule;
  const slots = [];
  const as = (client) => (method, path, opts = {}) => rawFHIR(method, path, { accessToken: client.accessToken, ...opts });
  const slot = (start, status) => ({
    resourceType: 'Slot', schedule: { reference: `Schedule/${schedule}` }, status,
    start, end: start.replace(':00:00Z', ':20:00Z'),
  });

  it('publishes a Schedule and three Slots', STEP, async () => {
    dr = await signIn('DR');
    other = await signIn('OTHER');
    const created = await as(dr)('POST', '/Schedule', {
      body: { resourceType: 'Schedule', active: true, actor: [{ reference: 'Practitioner/st-mary.dr-chen' }], comment: 'Outpatient clinic' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    schedule = created.body.id;
    for (const start of ['2030-03-04T09:00:00Z', '2030-03-04T10:00:00Z', '2030-03-05T09:00:00Z']) {
      const res = await as(dr)('POST', '/Slot', { body: slot(start, 'free') });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.headers.get('etag'), 'W/"1"');
      slots.push(res.body.id);
    }
  });

  it('lets another organization find the free Slots of the Schedule', STEP, async () => {
    assert.equal(slots.length, 3, 'needs the Slots published above');
    const found = await as(other)('GET', `/Slot?schedule=Schedule/${schedule}&status=free&start=ge2030-03-05&_sort=start`);
    assert.equal(found.status, 200);
    assert.deepEqual(found.body.entry.map((e) => e.resource.id), [slots[2]]);
    const all = await as(other)('GET', `/Slot?schedule=${schedule}&_sort=-start&_count=2`);
    assert.equal(all.body.total, 3);
    assert.deepEqual(all.body.entry.map((e) => e.resource.id), [slots[2], slots[1]]);
    assert.ok(all.body.link.some((l) => l.relation === 'next'));
    const read = await as(other)('GET', `/Schedule/${schedule}`);
    assert.equal(read.status, 200);
    assert.equal(read.body.comment, 'Outpatient clinic');
  });

  it('marks a Slot busy with If-Match, keeps its history, and refuses a stale version', STEP, async () => {
    assert.equal(slots.length, 3, 'needs the Slots published above');
    const busy = await as(dr)('PUT', `/Slot/${slots[0]}`, { body: { ...slot('2030-03-04T09:00:00Z', 'busy'), id: slots[0] }, headers: { 'if-match': 'W/"1"' } });
    assert.equal(busy.status, 200, JSON.stringify(busy.body));
    assert.equal(busy.body.meta.versionId, '2');
    const stale = await as(dr)('PUT', `/Slot/${slots[0]}`, { body: slot('2030-03-04T09:00:00Z', 'free'), headers: { 'if-match': 'W/"1"' } });
    assert.equal(stale.status, 412);
    expectOutcome(stale.body);
    const history = await as(other)('GET', `/Slot/${slots[0]}/_history`);
    assert.deepEqual(history.body.entry.map((e) => e.resource.status), ['busy', 'free']);
    const theirs = await as(other)('PUT', `/Slot/${slots[1]}`, { body: slot('2030-03-04T10:00:00Z', 'busy') });
    assert.ok([403, 422].includes(theirs.status), `another organization's update: ${theirs.status}`);
    expectOutcome(theirs.body);
  });

  it('refuses an organization resource that names a patient', STEP, async () => {
    assert.ok(schedule, 'needs the Schedule published above');
    const res = await as(dr)('POST', '/Schedule', {
      body: { resourceType: 'Schedule', actor: [{ reference: 'Patient/demo-06' }] },
    });
    assert.equal(res.status, 400);
    expectOutcome(res.body);
    assert.match(res.body.issue[0].diagnostics, /names a patient/);
  });
});
