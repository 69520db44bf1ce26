// validate.mjs checks an EPCIS 2.0 document that carechain exported with
// epcis2.js, a validator written by others: the EPCIS 2.0 JSON schema,
// then the event fields and extensions.
//
//   node validate.mjs DOCUMENT.json
//
// It prints {"valid":bool,"events":n,"errors":[...]} and exits 0 if the
// document is valid, 1 otherwise.
import {readFile} from 'node:fs/promises';
import epcis from 'epcis2.js';

const file = process.argv[2];
let result;
try {
  const doc = JSON.parse(await readFile(file, 'utf8'));
  const r = epcis.validateEpcisDocument(doc, false);
  const body = doc.epcisBody || {};
  const events = body.eventList || (body.queryResults && body.queryResults.resultsBody && body.queryResults.resultsBody.eventList) || [];
  result = {valid: r.success === true, events: events.length, errors: r.errors || []};
} catch (err) {
  result = {valid: false, events: 0, errors: [String(err && err.message || err)]};
}
console.log(JSON.stringify(result));
process.exit(result.valid ? 0 : 1);
