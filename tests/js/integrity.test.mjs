// Integrity in the browser crypto (static/js/portal-crypto.js) against tests/vectors/integrity_v1.json,
// the vectors portal.crypto.integrity also passes: the key commitment the browser makes and checks,
// and (with WebCrypto's Ed25519) the reporter host's signature over the report statement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import * as pc from '../../static/js/portal-crypto.js';

const V = JSON.parse(readFileSync(fileURLToPath(new URL('../vectors/integrity_v1.json', import.meta.url)), 'utf8'));
const h = pc.fromHex;
const hex = pc.toHex;

test('key commitment: the vector, and a check that refuses another key or report', async () => {
  const c = V.commitment;
  assert.equal(hex(await pc.keyCommitment(h(c.dek), h(c.report_id))), c.commitment);
  await pc.checkKeyCommitment(h(c.dek), h(c.report_id), h(c.commitment));
  const other = h(c.dek);
  other[0] ^= 1;
  await assert.rejects(pc.checkKeyCommitment(other, h(c.report_id), h(c.commitment)));
  await assert.rejects(pc.checkKeyCommitment(h(c.dek), new Uint8Array(16), h(c.commitment)));
  await assert.rejects(pc.checkKeyCommitment(h(c.dek), h(c.report_id), h(c.commitment).slice(0, 31)));
  await assert.rejects(pc.keyCommitment(new Uint8Array(31), h(c.report_id)));
});

test('report statement: layout, hashes and the reporter host signature', async () => {
  const r = V.report;
  const statement = h(r.statement);
  assert.deepEqual([...statement.slice(0, 2)], [0x01, 0x16]);
  assert.equal(hex(statement.slice(2, 18)), r.report_id);
  assert.equal(new TextDecoder().decode(statement.slice(18, 26)), r.received_on.replaceAll('-', ''));
  assert.equal(hex(statement.slice(26, 58)), r.commitment);
  const sealedHash = new Uint8Array(await crypto.subtle.digest('SHA-256', h(r.sealed_report)));
  assert.equal(hex(statement.slice(58, 90)), hex(sealedHash));
  assert.equal((statement[90] << 8) | statement[91], r.files.length);
  const key = await crypto.subtle.importKey('raw', h(r.public_key), { name: 'Ed25519' }, false, ['verify']);
  assert.equal(await crypto.subtle.verify({ name: 'Ed25519' }, key, h(r.signature), statement), true);
  const changed = statement.slice();
  changed[40] ^= 1;
  assert.equal(await crypto.subtle.verify({ name: 'Ed25519' }, key, h(r.signature), changed), false);
});
