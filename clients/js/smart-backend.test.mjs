// A SMART backend service as its developers would write it with common npm
// libraries: a client registered on the ledger by its organization's admin
// (jsclient_test.go registers it with `carechain client register`, a JWKS of
// an RSA and a P-384 key) signs its client assertion with RS384 (or ES384)
// using `jose`, gets a token, reads with fhir-kit-client, is held to the
// scope it was granted, and runs a bulk $export end to end. Every FHIR
// response, and every exported ndjson line, is validated as R4.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { importPKCS8, SignJWT } from 'jose';
import {
  base, call, clientWith, env, rawFHIR, STEP,
} from './carechain.mjs';
import { expectValid } from './fhir-validate.mjs';

const missing = ['CARECHAIN_CLIENT_ID', 'CARECHAIN_CLIENT_KID', 'CARECHAIN_CLIENT_KEY', 'CARECHAIN_CLIENT_ES_KID',
  'CARECHAIN_CLIENT_ES_KEY', 'CARECHAIN_TOKEN_URL', 'CARECHAIN_PATIENT'].filter((k) => !env[k]);

const kidOf = (alg) => (alg === 'ES384' ? env.CARECHAIN_CLIENT_ES_KID : env.CARECHAIN_CLIENT_KID);

// assertion is a client assertion of the registered client, signed with
// its RSA key (RS384) or its P-384 key (ES384) and naming kid.
async function assertion(alg, kid) {
  const key = await importPKCS8(alg === 'ES384' ? env.CARECHAIN_CLIENT_ES_KEY : env.CARECHAIN_CLIENT_KEY, alg);
  return new SignJWT({})
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setIssuer(env.CARECHAIN_CLIENT_ID).setSubject(env.CARECHAIN_CLIENT_ID).setAudience(env.CARECHAIN_TOKEN_URL)
    .setIssuedAt().setExpirationTime('2m').setJti(randomUUID())
    .sign(key);
}

// tokenFor asks the token endpoint for scope with a fresh assertion.
async function tokenFor(scope, alg = 'RS384', kid = kidOf(alg)) {
  const res = await fetch(env.CARECHAIN_TOKEN_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials', scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(alg, kid),
    }),
  });
  return { status: res.status, body: await res.json() };
}

describe('a SMART backend service with an RS384 key', { skip: missing.length > 0 && `set ${missing.join(', ')}` }, () => {
  let token;

  it('finds the token endpoint and RS384 in the SMART configuration', STEP, async () => {
    const conf = await (await fetch(`${base}/.well-known/smart-configuration`)).json();
    assert.equal(conf.token_endpoint, env.CARECHAIN_TOKEN_URL);
    assert.ok(conf.token_endpoint_auth_signing_alg_values_supported.includes('RS384'));
  });

  it('gets a token within its registered scopes, and no wider one', STEP, async () => {
    const wide = await tokenFor('system/*.cruds');
    assert.equal(wide.status, 400);
    assert.equal(wide.body.error, 'invalid_scope');
    const res = await tokenFor('system/*.rs');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.scope, 'system/*.rs');
    token = res.body.access_token;
  });

  it('reads as the principal it acts for, and may not write', STEP, async () => {
    assert.ok(token, 'needs the token obtained above');
    const client = clientWith(token);
    const bundle = await call('search', () => client.search({ resourceType: 'Observation', searchParams: { patient: `Patient/${env.CARECHAIN_PATIENT}` } }));
    assert.equal(bundle.resourceType, 'Bundle');
    const write = await rawFHIR('POST', '/Observation', { accessToken: token, body: { resourceType: 'Observation', status: 'final', code: { text: 'x' } } });
    assert.equal(write.status, 403);
  });

  it('gets a token with an ES384 assertion, and a narrower scope holds it to its resource type', STEP, async () => {
    const res = await tokenFor('system/Observation.rs', 'ES384');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.scope, 'system/Observation.rs');
    const narrow = res.body.access_token;
    const obs = await rawFHIR('GET', `/Observation?patient=Patient/${env.CARECHAIN_PATIENT}`, { accessToken: narrow });
    assert.equal(obs.status, 200);
    const patient = await rawFHIR('GET', `/Patient/${env.CARECHAIN_PATIENT}`, { accessToken: narrow });
    assert.equal(patient.status, 403);
    assert.equal(patient.body.resourceType, 'OperationOutcome');
    // The P-384 key under the RSA key's kid: a kid's own key and alg only.
    const wrongKey = await tokenFor('system/Observation.rs', 'ES384', env.CARECHAIN_CLIENT_KID);
    assert.equal(wrongKey.status, 401, JSON.stringify(wrongKey.body));
    assert.equal(wrongKey.body.error, 'invalid_client');
  });

  it('runs a bulk $export end to end', STEP, async () => {
    assert.ok(token, 'needs the token obtained above');
    const auth = { authorization: `Bearer ${token}` };
    const kick = await fetch(`${base}/Group/st-mary/$export?_type=Observation`, { headers: { ...auth, prefer: 'respond-async', accept: 'application/fhir+json' } });
    assert.equal(kick.status, 202, await kick.text());
    const status = kick.headers.get('content-location');
    const manifest = await (await fetch(status, { headers: auth })).json();
    assert.equal(manifest.requiresAccessToken, true);
    let lines = 0;
    for (const out of manifest.output) {
      assert.equal(out.type, 'Observation');
      const text = await (await fetch(out.url, { headers: auth })).text();
      for (const line of text.split('\n').filter(Boolean)) {
        expectValid(JSON.parse(line), 'exported Observation');
        lines += 1;
      }
    }
    assert.ok(lines > 0, 'the export holds Observations');
    assert.equal((await fetch(status, { method: 'DELETE', headers: auth })).status, 202);
  });
});
