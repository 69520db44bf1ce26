// A SMART backend service as its developers would write it with common npm
// libraries: a client registered on the ledger by its organization's admin
// (jsclient_test.go registers it with `carechain client register`, a JWKS of
// one RSA key) signs its client assertion with RS384 using `jose`, gets a
// token, reads with fhir-kit-client and runs a bulk $export end to end.
// Every FHIR response, and every exported ndjson line, is validated as R4.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { importPKCS8, SignJWT } from 'jose';
import {
  base, call, clientWith, env, rawFHIR, STEP,
} from './carechain.mjs';
import { expectValid } from './fhir-validate.mjs';

const missing = ['CARECHAIN_CLIENT_ID', 'CARECHAIN_CLIENT_KID', 'CARECHAIN_CLIENT_KEY', 'CARECHAIN_TOKEN_URL', 'CARECHAIN_PATIENT']
  .filter((k) => !env[k]);

// assertion is an RS384 client assertion of the registered client.
async function assertion() {
  const key = await importPKCS8(env.CARECHAIN_CLIENT_KEY, 'RS384');
  return new SignJWT({})
    .setProtectedHeader({ alg: 'RS384', kid: env.CARECHAIN_CLIENT_KID, typ: 'JWT' })
    .setIssuer(env.CARECHAIN_CLIENT_ID).setSubject(env.CARECHAIN_CLIENT_ID).setAudience(env.CARECHAIN_TOKEN_URL)
    .setIssuedAt().setExpirationTime('2m').setJti(randomUUID())
    .sign(key);
}

// tokenFor asks the token endpoint for scope with a fresh assertion.
async function tokenFor(scope) {
  const res = await fetch(env.CARECHAIN_TOKEN_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials', scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(),
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
