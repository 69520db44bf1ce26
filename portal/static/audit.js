// The auditor's page (/portal/audit): checks a proof file the auditor
// chooses, and the node's current checkpoint, with verify.js
// (carechainProof), against the validator set the auditor pastes or, if
// none, the one pinned in this browser. The file never leaves the browser.
"use strict";
(function () {
  const proofs = globalThis.carechainProof;
  const $ = (id) => document.getElementById(id);
  const show = (el, ok, text) => {
    if (!el) return;
    el.className = "mark " + (ok ? "ok" : "bad");
    el.textContent = (ok ? "✓ " : "✗ ") + text;
  };

  // trusted is the set to check against, and what to call it.
  function trusted() {
    const pasted = $("validators").value.trim();
    if (pasted) {
      let set;
      try { set = JSON.parse(pasted); } catch (e) { throw new Error("the pasted validator set is not JSON (" + e.message + ")"); }
      if (!set || !Array.isArray(set.validators) || set.validators.length === 0) throw new Error("the pasted text has no \"validators\" list: paste what carechain validators writes");
      return { set: proofs.reduce(set), name: "the pasted validator set" };
    }
    const pinned = proofs.pinnedSet();
    if (!pinned) throw new Error("no trusted validator set: paste one (none is pinned in this browser yet)");
    return { set: pinned, name: "the validator set pinned in this browser" };
  }

  async function checkFile(trust) {
    const file = $("bundle").files[0];
    if (!file) throw new Error("choose a proof file");
    let bundle;
    try { bundle = JSON.parse(await file.text()); } catch (e) { throw new Error("the file is not JSON (" + e.message + ")"); }
    if (!bundle || !bundle.leaf || !bundle.checkpoint) throw new Error("the file is not a proof bundle of one ledger entry");
    await proofs.verify(bundle, bundle.leaf.kind, bundle.leaf.key, trust.set);
    return "Verified: the " + bundle.leaf.kind + " entry " + bundle.leaf.key + " is in the ledger's log at height " +
      bundle.checkpoint.height + ", signed by more than two thirds of " + trust.name + ".";
  }

  async function checkNode(trust) {
    const resp = await fetch("/portal/audit/checkpoint");
    if (!resp.ok) throw new Error("the node served no checkpoint (HTTP " + resp.status + ")");
    const cp = await resp.json();
    await proofs.verifyCheckpoint(cp, trust.set);
    return "Verified: the node's checkpoint at height " + cp.height + " is signed by more than two thirds of " + trust.name + ".";
  }

  async function run(event) {
    event.preventDefault();
    const fileOut = $("bundle-result"), nodeOut = $("checkpoint-result");
    let trust;
    try {
      trust = trusted();
      $("trusted-set").textContent = "Checked against " + trust.name + ", fingerprint " + (await proofs.fingerprint(trust.set)) + ".";
    } catch (e) {
      show(fileOut, false, "Not verified: " + e.message);
      show(nodeOut, false, "Not verified: " + e.message);
      return;
    }
    for (const [out, check] of [[fileOut, checkFile], [nodeOut, checkNode]]) {
      if (!out) continue;
      try { show(out, true, await check(trust)); } catch (e) { show(out, false, "Not verified: " + e.message); }
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    const form = $("audit");
    if (!form) return;
    form.addEventListener("submit", run);
    const pinned = proofs.pinnedSet();
    if (pinned) $("pinned-set").textContent = "fingerprint " + (await proofs.fingerprint(pinned));
  });
})();
