// verify.mjs checks a Verifiable Credential that carechain exported, with
// verifiers written by others (Digital Bazaar's @digitalbazaar/vc, the
// eddsa-jcs-2022 cryptosuite and the did:key driver), and asks the ledger
// online whether it is still active (its credentialStatus).
//
//   node verify.mjs CREDENTIAL.json
//
// It prints {"verified":bool,"status":...,"error":...} and exits 0 if
// the credential verifies and is active, 1 otherwise.
import {readFile} from 'node:fs/promises';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {createVerifyCryptosuite} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import * as DidKey from '@digitalbazaar/did-method-key';

const didKeyDriver = DidKey.driver();
didKeyDriver.use({multibaseMultikeyHeader: 'z6Mk', fromMultibase: Ed25519Multikey.from});

// documentLoader serves the W3C contexts bundled with @digitalbazaar/vc
// and resolves did:key offline; it fetches nothing else.
async function documentLoader(url) {
  if(url.startsWith('did:key:')) {
    const document = await didKeyDriver.get({url});
    return {contextUrl: null, documentUrl: url, document};
  }
  return vc.defaultDocumentLoader(url);
}

let lastStatus = null;
// checkStatus asks the ledger (the node named in credentialStatus.id).
async function checkStatus({credential}) {
  const url = credential.credentialStatus?.id;
  const res = await fetch(url);
  lastStatus = await res.json();
  if(res.status !== 200) {
    return {verified: false, error: new Error(`status ${res.status}: ${JSON.stringify(lastStatus)}`)};
  }
  return lastStatus.status === 'active' ? {verified: true} :
    {verified: false, error: new Error(`credential is ${lastStatus.status}: ${lastStatus.reason}`)};
}

const credential = JSON.parse(await readFile(process.argv[2], 'utf8'));
const suite = new DataIntegrityProof({cryptosuite: createVerifyCryptosuite()});
const result = await vc.verifyCredential({credential, suite, documentLoader, checkStatus});
const errors = [result.error, result.statusResult?.error, ...(result.results ?? []).map(r => r.error)].filter(Boolean)
  .flatMap(e => e.errors ?? [e]).map(e => e.message ?? String(e));
console.log(JSON.stringify({verified: result.verified, status: lastStatus, errors}));
process.exit(result.verified ? 0 : 1);
