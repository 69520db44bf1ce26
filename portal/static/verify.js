// Checks, in the browser, that a record version is what the consortium
// committed: the proof bundle the node serves (package proof: a Merkle log
// leaf, the value it commits to, an inclusion proof, and the signed block
// header whose app hash commits to the log) is verified with WebCrypto
// (SHA-256, Ed25519) against a validator set pinned in this browser. The
// set the bundle carries is never trusted: only the pinned keys count.
"use strict";
(function (global) {
  const enc = new TextEncoder();
  const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let i = 0;
    for (const p of parts) { out.set(p, i); i += p.length; }
    return out;
  };
  const b64 = (s) => Uint8Array.from(atob(s || ""), (c) => c.charCodeAt(0));
  const hex = (s) => Uint8Array.from((s || "").match(/../g) || [], (h) => parseInt(h, 16));
  const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const fail = (why) => { throw new Error(why); };

  // RFC 6962 hashing, as CometBFT's merkle package and the ledger's log use.
  const leafHash = (data) => sha256(concat(Uint8Array.of(0), data));
  const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));
  async function merkleRoot(items) {
    if (items.length === 0) return sha256(new Uint8Array(0));
    if (items.length === 1) return leafHash(items[0]);
    let k = 1;
    while (k * 2 < items.length) k *= 2;
    return nodeHash(await merkleRoot(items.slice(0, k)), await merkleRoot(items.slice(k)));
  }
  // rootFromInclusion is transparency-dev's RootFromInclusionProof.
  async function rootFromInclusion(index, size, leaf, proof) {
    if (index >= size) fail("leaf index beyond the log");
    const inner = (index ^ (size - 1)).toString(2).length - (index ^ (size - 1) ? 0 : 1);
    let border = 0;
    for (let x = Math.floor(index / 2 ** inner); x > 0; x = Math.floor(x / 2)) border += x & 1;
    if (proof.length !== inner + border) fail("inclusion proof of the wrong length");
    let h = leaf;
    for (let i = 0; i < inner; i++) h = (Math.floor(index / 2 ** i) & 1) === 0 ? await nodeHash(h, proof[i]) : await nodeHash(proof[i], h);
    for (let i = inner; i < proof.length; i++) h = await nodeHash(proof[i], h);
    return h;
  }

  // Protobuf and CBOR, just what the hashes and signatures cover.
  const varint = (n) => {
    const out = [];
    let v = BigInt(n);
    do { let b = Number(v & 0x7fn); v >>= 7n; if (v > 0n) b |= 0x80; out.push(b); } while (v > 0n);
    return Uint8Array.from(out);
  };
  const key = (field, wire) => varint(field * 8 + wire);
  const pbVarint = (f, n) => (BigInt(n) === 0n ? new Uint8Array(0) : concat(key(f, 0), varint(n)));
  const pbBytes = (f, b) => (b.length === 0 ? new Uint8Array(0) : concat(key(f, 2), varint(b.length), b));
  const pbMsg = (f, b) => concat(key(f, 2), varint(b.length), b); // non-nullable: always there
  const pbFixed64 = (f, n) => {
    if (BigInt(n) === 0n) return new Uint8Array(0);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, BigInt(n), true);
    return concat(key(f, 1), b);
  };
  function timestamp(s) { // RFC 3339 with up to nanoseconds, UTC
    const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$/.exec(s) || fail("bad time " + s);
    const secs = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000;
    return concat(pbVarint(1, secs), pbVarint(2, +(m[7] || "").padEnd(9, "0")));
  }
  const partSet = (p) => concat(pbVarint(1, p.total), pbBytes(2, hex(p.hash)));
  const blockID = (id) => concat(pbBytes(1, hex(id.hash)), pbMsg(2, partSet(id.parts)));
  // headerHash is CometBFT's Header.Hash: a Merkle root of its fields.
  function headerHash(h) {
    const wrapBytes = (b) => pbBytes(1, b);
    return merkleRoot([
      concat(pbVarint(1, h.version.block), pbVarint(2, h.version.app || 0)),
      wrapBytes(enc.encode(h.chain_id)), pbVarint(1, h.height), timestamp(h.time), blockID(h.last_block_id),
      ...["last_commit_hash", "data_hash", "validators_hash", "next_validators_hash", "consensus_hash", "app_hash",
        "last_results_hash", "evidence_hash", "proposer_address"].map((f) => wrapBytes(hex(h[f]))),
    ]);
  }
  // voteSignBytes is the length-prefixed CanonicalVote a precommit signs.
  function voteSignBytes(chainID, commit, sig) {
    const vote = concat(pbVarint(1, 2), pbFixed64(2, commit.height), pbFixed64(3, commit.round),
      pbMsg(4, blockID(commit.block_id)), pbMsg(5, timestamp(sig.timestamp)), pbBytes(6, enc.encode(chainID)));
    return concat(varint(vote.length), vote);
  }
  const cborHead = (major, n) => {
    if (n < 24) return Uint8Array.of(major * 32 + n);
    if (n < 256) return Uint8Array.of(major * 32 + 24, n);
    if (n < 65536) return Uint8Array.of(major * 32 + 25, n >> 8, n & 255);
    if (n < 2 ** 32) return Uint8Array.of(major * 32 + 26, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
    const b = new Uint8Array(9);
    b[0] = major * 32 + 27;
    new DataView(b.buffer).setBigUint64(1, BigInt(n));
    return b;
  };
  const cborText = (s) => { const b = enc.encode(s); return concat(cborHead(3, b.length), b); };
  // leafBytes is tlog.Leaf.Bytes: deterministic CBOR, integer keys 1 to 5.
  const leafBytes = (l) => concat(Uint8Array.of(0xa5), cborHead(0, 1), cborText(l.kind), cborHead(0, 2), cborText(l.key),
    cborHead(0, 3), cborHead(0, l.height), cborHead(0, 4), cborHead(2, b64(l.content_hash).length), b64(l.content_hash),
    cborHead(0, 5), cborText(l.state_key));

  // A validator set as /v1/validators writes it, reduced to what is pinned.
  const reduce = (set) => set.validators.map((v) => ({ key: v.pub_key.value, power: String(v.voting_power) }))
    .sort((a, b) => (a.key < b.key ? -1 : 1));
  async function fingerprint(pinned) {
    const d = await sha256(enc.encode(pinned.map((v) => v.key + ":" + v.power).join("\n")));
    return toHex(d.slice(0, 8)).match(/..../g).join(" ");
  }

  // verify checks bundle for the log entry (kind, key) against pinned
  // (from reduce); it resolves on success and rejects with the reason.
  async function verify(bundle, kind, entryKey, pinned) {
    const leaf = bundle.leaf, cp = bundle.checkpoint;
    if (bundle.version !== 1) fail("unknown proof version");
    if (leaf.kind !== kind || leaf.key !== entryKey) fail("the proof is of another entry");
    if (!equal(await sha256(b64(bundle.content)), b64(leaf.content_hash))) fail("the content does not match its leaf");
    const root = await rootFromInclusion(bundle.leaf_index, cp.info.log_size, await leafHash(leafBytes(leaf)), bundle.inclusion.map(b64));
    if (!equal(root, b64(cp.info.log_root))) fail("the inclusion proof does not lead to the checkpoint's log root");
    await verifyCheckpoint(cp, pinned);
  }

  // verifyCheckpoint checks a checkpoint (a bundle's, or the node's own)
  // against pinned: its log is the signed block's, the commit is of that
  // block, and more than two thirds of the pinned voting power signed it.
  async function verifyCheckpoint(cp, pinned) {
    const sh = cp.signed_header;
    const size = new Uint8Array(8);
    new DataView(size.buffer).setBigUint64(0, BigInt(cp.info.log_size));
    // v2; v3 once the chain's supply map has a root (proof.AppInfo.AppHash)
    const appHash = cp.info.supply_root
      ? await sha256(concat(enc.encode("carechain/apphash/v3"), size, b64(cp.info.log_root), b64(cp.info.state_hash), b64(cp.info.supply_root)))
      : await sha256(concat(enc.encode("carechain/apphash/v2"), size, b64(cp.info.log_root), b64(cp.info.state_hash)));
    if (!equal(appHash, hex(sh.header.app_hash))) fail("the checkpoint's log is not the signed block's");
    if (sh.header.chain_id !== cp.chain_id || Number(sh.header.height) !== cp.height + 1) fail("the signed block is not the checkpoint's");
    if (!equal(await headerHash(sh.header), hex(sh.commit.block_id.hash)) || sh.commit.height !== sh.header.height) fail("the commit is not of this header");
    let total = 0n, signed = 0n;
    for (const v of pinned) {
      total += BigInt(v.power);
      const addr = toHex((await sha256(b64(v.key))).slice(0, 20)).toUpperCase();
      const sig = sh.commit.signatures.find((s) => s.block_id_flag === 2 && s.validator_address === addr);
      if (!sig) continue;
      const k = await crypto.subtle.importKey("raw", b64(v.key), { name: "Ed25519" }, false, ["verify"]);
      if (await crypto.subtle.verify({ name: "Ed25519" }, k, b64(sig.signature), voteSignBytes(cp.chain_id, sh.commit, sig))) signed += BigInt(v.power);
    }
    if (signed * 3n <= total * 2n) fail("the checkpoint is not signed by more than two thirds of your pinned validator set");
  }

  // The page: marks ([data-proof]) checked against the pinned set, which
  // is pinned from the node's /v1/validators at the first visit; a
  // different set the node reports later is used only once accepted.
  const pinKey = "carechain.validators";
  const pinnedSet = () => JSON.parse(localStorage.getItem(pinKey) || "null");
  // check verifies bundle for mark and shows the outcome on it.
  async function check(mark, bundle) {
    try {
      await verify(bundle, "record", mark.dataset.key, pinnedSet() || fail("no pinned validator set"));
      mark.className = "mark ok";
      mark.textContent = "✓ Verified";
    } catch (e) {
      mark.className = "mark bad";
      mark.textContent = "✗ Not verified: " + e.message;
    }
  }
  async function checkPage() {
    const marks = document.querySelectorAll("[data-proof]");
    if (marks.length === 0) return;
    const current = reduce(await (await fetch("/v1/validators")).json());
    if (!pinnedSet()) localStorage.setItem(pinKey, JSON.stringify(current));
    const fp = await fingerprint(pinnedSet());
    document.getElementById("pinned").textContent = "Validator set pinned in this browser: fingerprint " + fp + ".";
    const now = await fingerprint(current);
    if (now !== fp) {
      document.getElementById("new-fingerprint").textContent = now;
      document.getElementById("new-set").hidden = false;
      document.getElementById("accept-set").addEventListener("click", () => {
        localStorage.setItem(pinKey, JSON.stringify(current));
        location.reload();
      });
    }
    for (const mark of marks) {
      try {
        const resp = await fetch(mark.dataset.proof);
        await check(mark, resp.ok ? await resp.json() : fail("the node served no proof (HTTP " + resp.status + ")"));
      } catch (e) {
        mark.className = "mark bad";
        mark.textContent = "✗ Not verified: " + e.message;
      }
    }
  }

  global.carechainProof = { verify, verifyCheckpoint, reduce, fingerprint, check, pinnedSet };
  if (global.document) document.addEventListener("DOMContentLoaded", checkPage);
})(globalThis);
