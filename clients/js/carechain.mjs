// What every test file of the suite shares: the configuration, SMART
// backend-services tokens signed with EdDSA, and FHIR clients whose every
// response body (resources, Bundles, OperationOutcomes of errors) is checked
// by the independent R4 validator in fhir-validate.mjs.
//
// Configuration (cmd/carechain/jsclient_test.go sets it against `carechain demo`):
//   CARECHAIN_FHIR_BASE   http://ADDR (or http://ADDR/fhir)
//   CARECHAIN_TOKEN_URL   http://ADDR/auth/token
//   CARECHAIN_DR_ID       principal that may write and read the patient's records (st-mary/dr-chen)
//   CARECHAIN_DR_SEED     its Ed25519 seed, 32 bytes in hex
//   CARECHAIN_OTHER_ID    principal without the patient's consent (northlab/tech-kim)
//   CARECHAIN_OTHER_SEED  its Ed25519 seed, 32 bytes in hex
//   CARECHAIN_PATIENT     the patient's pseudonym (demo-06)
import assert from 'node:assert/strict';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { after } from 'node:test';
import { Client } from 'fhir-kit-client';
import { expectValid, validated } from './fhir-validate.mjs';

export const env = process.env;
const required = ['CARECHAIN_FHIR_BASE', 'CARECHAIN_TOKEN_URL', 'CARECHAIN_DR_ID', 'CARECHAIN_DR_SEED',
  'CARECHAIN_OTHER_ID', 'CARECHAIN_OTHER_SEED', 'CARECHAIN_PATIENT'];
const missing = required.filter((k) => !env[k]);

// skipUnconfigured is the describe option that skips a file's tests when the
// configuration is missing (the Go test then fails: nothing passed).
export const skipUnconfigured = missing.length > 0 && `set ${missing.join(', ')}`;

// Each file reports how much the validator checked (jsclient_test.go logs it).
after(() => console.log(`validated ${validated.responses} responses holding ${validated.resources} resources as FHIR R4`
  + ` (${validated.codes} codes checked against required bindings)`));

export const LOINC = 'http://loinc.org';
export const STEP = { timeout: 60_000 };

// base is the server's FHIR base URL, from the server root or its /fhir.
export const base = (() => {
  const b = (env.CARECHAIN_FHIR_BASE ?? '').replace(/\/+$/, '');
  return b.endsWith('/fhir') ? b : `${b}/fhir`;
})();

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
export async function token(principal, seedHex) {
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

// login signs a custodial user in with their passphrase (/auth/login).
export async function login(principal, passphrase) {
  const res = await fetch(env.CARECHAIN_TOKEN_URL.replace(/\/token$/, '/login'), {
    method: 'POST', body: new URLSearchParams({ principal, passphrase }), signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `login of ${principal}: ${res.status} ${text}`);
  return JSON.parse(text);
}

// validating wraps a fhir-kit-client Client so that every call's response
// body, success or error, is validated as FHIR R4 before the test sees it.
function validating(client) {
  return new Proxy(client, {
    get(target, prop) {
      const v = Reflect.get(target, prop);
      if (typeof v !== 'function') return v;
      return (...args) => {
        const what = `${String(prop)}(${JSON.stringify(args[0] ?? {}).slice(0, 200)})`;
        const res = v.apply(target, args);
        if (!(res instanceof Promise)) return res;
        return res.then((body) => {
          if (body && Object.keys(body).length > 0) expectValid(body, what);
          return body;
        }, (err) => {
          if (err?.response) expectValid(err.response.data, `${what} -> ${err.response.status}`);
          throw err;
        });
      };
    },
  });
}

// clientWith is a validating FHIR client that sends accessToken (none: anonymous).
export const clientWith = (accessToken) => validating(new Client({
  baseUrl: base,
  customHeaders: accessToken ? { Authorization: `Bearer ${accessToken}` } : {},
}));

// signIn returns a validating client for a principal configured by prefix
// (DR or OTHER: CARECHAIN_DR_ID and CARECHAIN_DR_SEED).
export async function signIn(prefix) {
  const tok = await token(env[`CARECHAIN_${prefix}_ID`], env[`CARECHAIN_${prefix}_SEED`]);
  return Object.assign(clientWith(tok.access_token), { accessToken: tok.access_token });
}

// statusOf is the HTTP status of a fhir-kit-client result; headerOf one of its headers.
export const statusOf = (result) => Client.httpFor(result).response?.status;
export const headerOf = (result, name) => Client.httpFor(result).response?.headers.get(name);

// describeError makes a fhir-kit-client failure readable in assertion messages.
export function describeError(err) {
  if (err?.response) return `${err.message}: ${JSON.stringify(err.response.data)}`;
  return String(err?.stack ?? err);
}

// call runs a client call and turns an HTTP error into a clear assertion failure.
export async function call(what, fn) {
  try {
    return await fn();
  } catch (err) {
    assert.fail(`${what} failed: ${describeError(err)}`);
  }
}

// rawFHIR sends a request with fetch, for what a FHIR client library does
// not (odd methods, unknown types, malformed JSON in text), and validates
// the body it answers.
export async function rawFHIR(method, path, { accessToken, headers = {}, body, text: sent } = {}) {
  const payload = sent ?? (body && JSON.stringify(body));
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      accept: 'application/fhir+json',
      ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
      ...(payload ? { 'content-type': 'application/fhir+json' } : {}),
      ...headers,
    },
    body: payload,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let json;
  if (text) {
    assert.doesNotThrow(() => { json = JSON.parse(text); }, `${method} ${path} -> ${res.status}: not JSON: ${text.slice(0, 300)}`);
    expectValid(json, `${method} ${path} -> ${res.status}`);
  }
  return { status: res.status, headers: res.headers, body: json };
}

// expectOutcome checks an error body: an OperationOutcome whose issues are
// errors with the given code.
export function expectOutcome(body, code) {
  assert.equal(body?.resourceType, 'OperationOutcome', JSON.stringify(body));
  assert.ok(body.issue.length > 0);
  assert.equal(body.issue[0].severity, 'error', JSON.stringify(body));
  if (code) assert.equal(body.issue[0].code, code, JSON.stringify(body));
}

export const ids = (bundle) => (bundle.entry ?? []).map((e) => e.resource?.id);

export function codesOf(resource) {
  return (resource.code?.coding ?? []).map((c) => `${c.system}|${c.code}`);
}

// observation is a vital sign or lab result Observation of patient.
export function observation(patient, code, display, value, unit, category) {
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
