// Receipt format v2 in the browser crypto (static/js/portal-crypto.js) against
// tests/vectors/receipt_v2.json, the vectors portal.crypto also passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import * as pc from '../../static/js/portal-crypto.js';

const V = JSON.parse(readFileSync(fileURLToPath(new URL('../vectors/receipt_v2.json', import.meta.url)), 'utf8')).vectors;
const h = pc.fromHex;
const hex = pc.toHex;
const words = pc.parseWordlist(readFileSync(fileURLToPath(new URL('../../static/js/wordlist.txt', import.meta.url)), 'utf8'));

test('v2: typed code -> receipt secret -> lookup token and reporter root', async () => {
  for (const v of V) {
    const secret = await pc.receiptSecret(v.typed, h(v.install_salt), v.argon2, words);
    assert.equal(hex(secret), v.receipt_secret);
    assert.equal(hex(await pc.lookupToken(secret)), v.lookup_token);
    assert.equal(hex(await pc.reporterRoot(secret)), v.reporter_root);
    assert.notEqual(v.lookup_token, v.reporter_root);
    assert.equal(hex(await pc.reporterPublicKeyV2(h(v.reporter_root))), v.reporter_x25519_public);
  }
});

test('v2: reporter wrap opens with the root and reproduces byte for byte', async () => {
  for (const v of V) {
    const root = h(v.reporter_root);
    assert.equal(hex(await pc.unwrapForReporterRoot(h(v.wrap), root, h(v.report_id))), v.dek);
    const made = await pc.wrapForReporterRoot(h(v.dek), root, h(v.report_id), { ephemeralPrivate: h(v.ephemeral_private), nonce: h(v.nonce) });
    assert.equal(hex(made), v.wrap);
    const fresh = await pc.wrapForReporterRoot(h(v.dek), root, h(v.report_id));
    assert.equal(fresh.length, 112);
    assert.equal(hex(await pc.unwrapForReporterRoot(fresh, root, h(v.report_id))), v.dek);
  }
});

test('v2: the lookup token, the lookup id or another report id open nothing', async () => {
  for (const v of V) {
    for (const guess of [v.lookup_token, v.lookup_id, v.receipt_secret]) {
      await assert.rejects(pc.unwrapForReporterRoot(h(v.wrap), h(guess), h(v.report_id)), pc.CryptoError);
    }
    await assert.rejects(pc.unwrapForReporterRoot(h(v.wrap), h(v.reporter_root), new Uint8Array(16)), pc.CryptoError);
    const tampered = h(v.wrap);
    tampered[50] ^= 1;
    await assert.rejects(pc.unwrapForReporterRoot(tampered, h(v.reporter_root), h(v.report_id)), pc.CryptoError);
    const v1 = h(v.wrap);
    v1[1] = 0x12;
    await assert.rejects(pc.unwrapForReporterRoot(v1, h(v.reporter_root), h(v.report_id)), pc.CryptoError);
  }
});
