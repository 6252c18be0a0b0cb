// Behaviour of static/js/portal-crypto.js that the vectors do not pin down:
// randomness, input checks, streaming with bounded reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import * as pc from '../../static/js/portal-crypto.js';

const words = pc.parseWordlist(readFileSync(new URL('../../static/js/wordlist.txt', import.meta.url), 'utf8'));
const CHEAP = { time_cost: 1, memory_kib: 8192, parallelism: 1 };

test('receipt codes: 8 words from the list, single spaces, already canonical', () => {
  const seen = new Set();
  for (let i = 0; i < 200; i++) {
    const code = pc.generateReceiptCode(words);
    const parts = code.split(' ');
    assert.equal(parts.length, 8);
    assert.ok(parts.every((w) => words.includes(w)));
    assert.equal(pc.normaliseReceiptCode(code, words), code);
    parts.forEach((w) => seen.add(w));
  }
  // 1,600 draws from 2,048 words: a broken sampler (e.g. a stuck byte) would repeat far more.
  assert.ok(seen.size > 1000, `only ${seen.size} distinct words`);
  assert.throws(() => pc.generateReceiptCode(words.slice(1)), pc.CryptoError);
});

test('word list invariants are checked', () => {
  assert.equal(words.length, 2048);
  assert.throws(() => pc.parseWordlist(words.slice(1).join('\n')), pc.CryptoError);
  assert.throws(() => pc.parseWordlist([...words.slice(0, -1), words[0] + 'x'].join('\n')), pc.CryptoError); // prefix clash
});

test('receipt secret: cheap parameters, typed forms agree, non-canonical input refused without a word list', async () => {
  const salt = pc.randomBytes(16);
  const code = pc.generateReceiptCode(words);
  const a = await pc.receiptSecret(code, salt, CHEAP);
  const b = await pc.receiptSecret(code.toUpperCase().replace(/ /g, '-'), salt, CHEAP, words);
  assert.equal(pc.toHex(a), pc.toHex(b));
  assert.equal(a.length, 32);
  await assert.rejects(pc.receiptSecret(code.toUpperCase(), salt, CHEAP), pc.CryptoError);
  await assert.rejects(pc.receiptSecret(code, salt.subarray(0, 8), CHEAP), pc.CryptoError);
  const pub = await pc.reporterPublicKey(a);
  assert.equal(pub.length, 32);
});

test('records and wraps refuse keys and ids of the wrong length', async () => {
  const dek = pc.randomBytes(32);
  const rid = pc.randomBytes(16);
  await assert.rejects(pc.sealRecord(dek.subarray(1), rid, 'report', pc.utf8('x')), pc.CryptoError);
  await assert.rejects(pc.sealRecord(dek, rid.subarray(1), 'report', pc.utf8('x')), pc.CryptoError);
  await assert.rejects(pc.sealRecord(dek, rid, 'reports', pc.utf8('x')), pc.CryptoError);
  await assert.rejects(pc.innerWrap(dek, pc.randomBytes(31), rid), pc.CryptoError);
  await assert.rejects(pc.innerWrap(dek, new Uint8Array(32), rid), pc.CryptoError); // small-order point
  const sealed = await pc.sealRecord(dek, rid, 'report', pc.utf8('x'));
  assert.equal(sealed.length, 2 + 12 + 1 + 16);
  assert.notEqual(pc.toHex(sealed), pc.toHex(await pc.sealRecord(dek, rid, 'report', pc.utf8('x'))), 'fresh nonce each time');
});

test('HPKE seal is randomised and opens only with the right key and info', async () => {
  const sk = pc.randomBytes(32);
  const pk = await pc.x25519PublicFromPrivate(sk);
  const info = pc.utf8('info');
  const a = await pc.hpkeSealX25519(pk, pc.utf8('secret'), info);
  const b = await pc.hpkeSealX25519(pk, pc.utf8('secret'), info);
  assert.notEqual(pc.toHex(a), pc.toHex(b));
  assert.equal(new TextDecoder().decode(await pc.hpkeOpenX25519(sk, a, info)), 'secret');
  await assert.rejects(pc.hpkeOpenX25519(sk, a, pc.utf8('other')), pc.CryptoError);
  await assert.rejects(pc.hpkeOpenX25519(pc.randomBytes(32), a, info), pc.CryptoError);
});

test('streams: sizes around chunk boundaries round-trip; reads never exceed one chunk', async () => {
  const dek = pc.randomBytes(32);
  const rid = pc.randomBytes(16);
  const aid = pc.randomBytes(16);
  for (const size of [0, 1, 1023, 1024, 1025, 2048, 5000]) {
    const data = pc.randomBytes(size);
    const source = new Blob([data]);
    let largest = 0;
    // A Blob stand-in that records how much is read at once.
    const probe = {
      size: source.size,
      slice(start, end) {
        largest = Math.max(largest, end - start);
        return source.slice(start, end);
      },
    };
    const out = await pc.encryptStream(dek, rid, aid, probe, 10);
    assert.ok(largest <= 1024, `read ${largest} bytes at once`);
    assert.equal(out.size, pc.streamCiphertextSize(size, 10));
    assert.equal(pc.toHex(await pc.decryptStream(dek, rid, aid, out)), pc.toHex(data));
  }
  await assert.rejects(pc.encryptStream(dek, rid, aid, new Blob([]), 9), pc.CryptoError);
  await assert.rejects(pc.encryptStream(dek, rid, aid, new Blob([]), 25), pc.CryptoError);
});

test('encodings round-trip', () => {
  const bytes = pc.randomBytes(100000);
  assert.equal(pc.toHex(pc.fromBase64(pc.toBase64(bytes))), pc.toHex(bytes));
  assert.equal(pc.toHex(pc.fromHex(pc.toHex(bytes))), pc.toHex(bytes));
  assert.equal(pc.toBase64(pc.utf8('\u00e9')), Buffer.from('\u00e9').toString('base64'));
  assert.throws(() => pc.fromHex('abc'), pc.CryptoError);
});

test('this runtime has what the browser path needs', async () => {
  assert.equal(await pc.isSupported(), true);
});
