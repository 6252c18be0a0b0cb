// Browser side of the portal's cryptography (docs/crypto.md, format v1).
//
// Mirrors portal/crypto/*.py byte for byte, using only WebCrypto (crypto.subtle)
// plus hash-wasm's Argon2id in WebAssembly. Nothing here touches the DOM, logs,
// or keeps plaintext after returning, so it also runs under `node --test`.
//
//   sealRecord / openRecord           envelope.py  (version 0x01, alg 0x01)
//   encryptStream / decryptStream     stream.py    (STREAM over AES-256-GCM, alg 0x03)
//   hpkeSealX25519 / hpkeOpenX25519   RFC 9180 base mode, DHKEM(X25519) / HKDF-SHA256 / AES-256-GCM
//   innerWrap                         keys.py seal_inner
//   generateReceiptCode, normaliseReceiptCode, receiptSecret, reporterPublicKey   receipt.py
//   lookupToken, reporterRoot, wrapForReporterRoot, unwrapForReporterRoot   receipt format v2
//   sealWithKey / openWithKey          envelope.py  (alg 0x02, caller's key)
//   puzzleHash / solvePuzzle          puzzle.py    (proof of work, SHA-256)

import { argon2id } from '../vendor/hash-wasm/argon2.js';
import { createSHA256 } from '../vendor/hash-wasm/sha256.js';

const subtle = globalThis.crypto.subtle;
const encoder = new TextEncoder();

export const VERSION = 0x01;
export const ALG_RECORD = 0x01;
export const ALG_DIRECT = 0x02;
export const ALG_WRAP_REPORTER_V2 = 0x15;
export const ALG_STREAM = 0x03;
export const KEY_LEN = 32;
export const NONCE_LEN = 12;
export const TAG_LEN = 16;
export const ID_LEN = 16;
export const STREAM_SALT_LEN = 16;
export const STREAM_HEADER_LEN = 3 + STREAM_SALT_LEN;
export const DEFAULT_CHUNK_LOG2 = 16;
export const PURPOSES = Object.freeze(['report', 'message', 'note', 'attachment-meta', 'subject']);
const EMPTY = new Uint8Array(0);

export class CryptoError extends Error {
  constructor(message) {
    super(message); // messages never carry key material or plaintext
    this.name = 'CryptoError';
  }
}

// -- bytes -------------------------------------------------------------------

export function utf8(text) {
  return encoder.encode(text);
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function randomBytes(n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) globalThis.crypto.getRandomValues(out.subarray(i, i + 65536)); // per-call limit
  return out;
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function fromHex(hex) {
  if (typeof hex !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new CryptoError('malformed hex');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toBase64(bytes) {
  // btoa wants a "binary string"; build it in slices to stay clear of argument limits.
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function bytesOf(data) {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new CryptoError('expected bytes');
}

function checkLen(bytes, n, what) {
  if (!(bytes instanceof Uint8Array) || bytes.length !== n) throw new CryptoError(`${what} must be ${n} bytes`);
}

// -- HMAC / HKDF (RFC 5869) ----------------------------------------------------

// An absent HKDF salt means HashLen zero bytes (RFC 5869 2.2). That is also what
// HMAC does with an empty key, but WebCrypto refuses to import an empty HMAC key.
const ZERO_SALT = new Uint8Array(32);

async function hmacSha256(key, data) {
  const k = await subtle.importKey('raw', key.length ? key : ZERO_SALT, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle.sign('HMAC', k, data));
}

async function hkdfExtract(salt, ikm) {
  return hmacSha256(salt, ikm);
}

async function hkdfExpand(prk, info, length) {
  const out = new Uint8Array(length);
  let block = EMPTY;
  for (let i = 1, at = 0; at < length; i++) {
    block = await hmacSha256(prk, concat(block, info, Uint8Array.of(i)));
    out.set(block.subarray(0, Math.min(32, length - at)), at);
    at += 32;
  }
  return out;
}

/** HKDF-SHA256, as portal.crypto.kdf.hkdf(ikm, info, length, salt). */
export async function hkdf(ikm, info, length = KEY_LEN, salt = EMPTY) {
  const key = await subtle.importKey('raw', bytesOf(ikm), 'HKDF', false, ['deriveBits']);
  const bits = await subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: salt.length ? salt : ZERO_SALT, info }, key, length * 8);
  return new Uint8Array(bits);
}

// -- AES-256-GCM ----------------------------------------------------------------

async function aesKey(raw, usage) {
  return subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, [usage]);
}

async function gcmSeal(key, nonce, plaintext, aad) {
  return new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, key, plaintext));
}

async function gcmOpen(key, nonce, ciphertext, aad, what) {
  try {
    return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, key, ciphertext));
  } catch {
    throw new CryptoError(`${what} failed to authenticate`);
  }
}

// -- X25519 ---------------------------------------------------------------------

// WebCrypto only imports raw X25519 *private* keys inside PKCS#8 (RFC 8410).
const PKCS8_X25519_PREFIX = fromHex('302e020100300506032b656e04220420');

async function importX25519Private(raw32) {
  checkLen(raw32, 32, 'X25519 private key');
  return subtle.importKey('pkcs8', concat(PKCS8_X25519_PREFIX, raw32), { name: 'X25519' }, true, ['deriveBits']);
}

async function importX25519Public(raw32) {
  checkLen(raw32, 32, 'X25519 public key');
  return subtle.importKey('raw', raw32, { name: 'X25519' }, true, []);
}

function base64urlDecode(text) {
  return fromBase64(text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4));
}

/** Raw 32-byte public key of a raw 32-byte X25519 private key. */
export async function x25519PublicFromPrivate(raw32) {
  const jwk = await subtle.exportKey('jwk', await importX25519Private(raw32));
  return base64urlDecode(jwk.x);
}

async function x25519(privateKey, publicRaw) {
  const publicKey = await importX25519Public(publicRaw);
  let shared;
  try {
    shared = new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: publicKey }, privateKey, 256));
  } catch {
    shared = new Uint8Array(32); // some engines refuse small-order points themselves
  }
  // RFC 9180 7.1.4: an all-zero result means a small-order public key.
  if (shared.every((b) => b === 0)) throw new CryptoError('invalid X25519 public key');
  return shared;
}

// -- HPKE (RFC 9180), base mode, single shot ------------------------------------

const HPKE_V1 = utf8('HPKE-v1');
const KEM_SUITE = concat(utf8('KEM'), Uint8Array.of(0x00, 0x20)); // DHKEM(X25519, HKDF-SHA256)
const AEAD_AES_128_GCM = 0x0001; // only for checking against RFC 9180 A.1.1
const AEAD_AES_256_GCM = 0x0002; // what the portal uses
const HPKE_NN = 12;

// "HPKE" || kem_id || kdf_id (HKDF-SHA256) || aead_id
function hpkeSuite(aeadId) {
  if (aeadId !== AEAD_AES_128_GCM && aeadId !== AEAD_AES_256_GCM) throw new CryptoError('unsupported HPKE AEAD');
  return concat(utf8('HPKE'), Uint8Array.of(0x00, 0x20, 0x00, 0x01, 0x00, aeadId));
}

function labeledExtract(suite, salt, label, ikm) {
  return hkdfExtract(salt, concat(HPKE_V1, suite, utf8(label), ikm));
}

function labeledExpand(suite, prk, label, info, length) {
  return hkdfExpand(prk, concat(Uint8Array.of(length >> 8, length & 0xff), HPKE_V1, suite, utf8(label), info), length);
}

async function kemSharedSecret(dh, kemContext) {
  const prk = await labeledExtract(KEM_SUITE, EMPTY, 'eae_prk', dh);
  return labeledExpand(KEM_SUITE, prk, 'shared_secret', kemContext, 32);
}

async function keySchedule(sharedSecret, info, aeadId) {
  const suite = hpkeSuite(aeadId);
  const pskIdHash = await labeledExtract(suite, EMPTY, 'psk_id_hash', EMPTY);
  const infoHash = await labeledExtract(suite, EMPTY, 'info_hash', info);
  const context = concat(Uint8Array.of(0x00), pskIdHash, infoHash); // mode_base
  const secret = await labeledExtract(suite, sharedSecret, 'secret', EMPTY); // psk = ""
  return {
    key: await labeledExpand(suite, secret, 'key', context, aeadId === AEAD_AES_256_GCM ? 32 : 16),
    nonce: await labeledExpand(suite, secret, 'base_nonce', context, HPKE_NN), // sequence 0: base nonce as is
  };
}

/**
 * HPKE single-shot seal to an X25519 public key, empty AAD: returns enc (32) || ciphertext || tag.
 * Test-vector hooks only: `options.ephemeralPrivate` (32 raw bytes) makes the output
 * deterministic; `options.aeadId` / `options.aad` select RFC 9180 A.1.1's AES-128-GCM suite.
 */
export async function hpkeSealX25519(publicKeyRaw, plaintext, info, options = {}) {
  const { aeadId = AEAD_AES_256_GCM, aad = EMPTY } = options;
  const pkR = bytesOf(publicKeyRaw);
  checkLen(pkR, 32, 'X25519 public key');
  let skE;
  let enc;
  if (options.ephemeralPrivate) {
    skE = await importX25519Private(bytesOf(options.ephemeralPrivate));
    enc = await x25519PublicFromPrivate(bytesOf(options.ephemeralPrivate));
  } else {
    const pair = await subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']);
    skE = pair.privateKey;
    enc = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
  }
  const dh = await x25519(skE, pkR);
  const shared = await kemSharedSecret(dh, concat(enc, pkR));
  const { key, nonce } = await keySchedule(shared, bytesOf(info), aeadId);
  return concat(enc, await gcmSeal(await aesKey(key, 'encrypt'), nonce, bytesOf(plaintext), bytesOf(aad)));
}

/** Inverse of hpkeSealX25519, given the recipient's raw 32-byte private key. */
export async function hpkeOpenX25519(privateKeyRaw, sealed, info, options = {}) {
  const { aeadId = AEAD_AES_256_GCM, aad = EMPTY } = options;
  sealed = bytesOf(sealed);
  if (sealed.length < 32 + TAG_LEN) throw new CryptoError('HPKE ciphertext too short');
  const enc = sealed.subarray(0, 32);
  const skR = bytesOf(privateKeyRaw);
  const pkR = await x25519PublicFromPrivate(skR);
  const dh = await x25519(await importX25519Private(skR), enc);
  const shared = await kemSharedSecret(dh, concat(enc, pkR));
  const { key, nonce } = await keySchedule(shared, bytesOf(info), aeadId);
  return gcmOpen(await aesKey(key, 'decrypt'), nonce, sealed.subarray(32), bytesOf(aad), 'HPKE ciphertext');
}

/** keys.py seal_inner: the DEK wrapped to one X25519 key, bound to the report. */
export async function innerWrap(dek, x25519PublicRaw, reportId, options = {}) {
  checkLen(bytesOf(dek), KEY_LEN, 'DEK');
  checkLen(bytesOf(reportId), ID_LEN, 'report id');
  return hpkeSealX25519(x25519PublicRaw, dek, concat(utf8('portal/v1/wrap-inner'), bytesOf(reportId)), options);
}

export async function openInnerWrap(inner, x25519PrivateRaw, reportId) {
  return hpkeOpenX25519(x25519PrivateRaw, inner, concat(utf8('portal/v1/wrap-inner'), bytesOf(reportId)));
}

export const MAX_SUBJECTS_BYTES = 16 * 1024;

/** screening.py seal_subjects_inner: the subject list (names and numbers only) sealed to the screening key. */
export async function sealSubjectsInner(document, x25519PublicRaw, reportId, options = {}) {
  checkLen(bytesOf(reportId), ID_LEN, 'report id');
  if (bytesOf(document).length > MAX_SUBJECTS_BYTES) throw new CryptoError('subject list too long');
  return hpkeSealX25519(x25519PublicRaw, document, concat(utf8('portal/v1/subjects-inner'), bytesOf(reportId)), options);
}

// -- sealed records (envelope.py) -------------------------------------------------

function recordContext(reportId, purpose, recordId) {
  checkLen(reportId, ID_LEN, 'report id');
  if (!PURPOSES.includes(purpose)) throw new CryptoError('unknown record purpose');
  const label = utf8(purpose);
  return concat(reportId, Uint8Array.of(label.length), label, recordId);
}

async function recordKey(dek, purpose, usage) {
  checkLen(dek, KEY_LEN, 'DEK');
  return aesKey(await hkdf(dek, utf8('portal/v1/record/' + purpose)), usage);
}

/**
 * version 0x01 | alg 0x01 | nonce (12) | ciphertext || tag, AAD = header || context.
 * `options.nonce` fixes the nonce, for test vectors only.
 */
// -- Key commitment (docs/crypto.md, "Integrity") ----------------------------------

const COMMITMENT_LABEL = utf8('portal/v1/key-commitment');

// HMAC-SHA256(key = DEK, "portal/v1/key-commitment" || report id): which key a report was sealed under.
export async function keyCommitment(dek, reportId) {
  if (dek.length !== 32 || reportId.length !== 16) throw new Error('a data key is 32 bytes and a report id 16');
  return hmacSha256(dek, concat(COMMITMENT_LABEL, reportId));
}

// Throws unless `dek` is the key the report was committed to (a constant-time comparison).
export async function checkKeyCommitment(dek, reportId, commitment) {
  const expected = await keyCommitment(dek, reportId);
  let diff = expected.length ^ commitment.length;
  for (let i = 0; i < expected.length; i += 1) diff |= expected[i] ^ (commitment[i] ?? 0);
  if (diff !== 0) throw new Error('the data key does not match the report\'s key commitment');
}

export async function sealRecord(dek, reportId, purpose, plaintext, recordId = EMPTY, options = {}) {
  const context = recordContext(bytesOf(reportId), purpose, bytesOf(recordId));
  const header = Uint8Array.of(VERSION, ALG_RECORD);
  const nonce = options.nonce ? bytesOf(options.nonce) : randomBytes(NONCE_LEN);
  checkLen(nonce, NONCE_LEN, 'nonce');
  const key = await recordKey(bytesOf(dek), purpose, 'encrypt');
  return concat(header, nonce, await gcmSeal(key, nonce, bytesOf(plaintext), concat(header, context)));
}

export async function openRecord(dek, reportId, purpose, sealed, recordId = EMPTY) {
  sealed = bytesOf(sealed);
  if (sealed.length < 2 + NONCE_LEN + TAG_LEN) throw new CryptoError('sealed record too short');
  if (sealed[0] !== VERSION) throw new CryptoError('unknown record version');
  if (sealed[1] !== ALG_RECORD) throw new CryptoError('unexpected record algorithm');
  const context = recordContext(bytesOf(reportId), purpose, bytesOf(recordId));
  const key = await recordKey(bytesOf(dek), purpose, 'decrypt');
  return gcmOpen(key, sealed.subarray(2, 14), sealed.subarray(14), concat(sealed.subarray(0, 2), context), 'record');
}

/** envelope.py seal_with_key: version | 0x02 | nonce | ciphertext || tag, AAD = header || context. */
export async function sealWithKey(key, plaintext, context, options = {}) {
  checkLen(bytesOf(key), KEY_LEN, 'key');
  const header = Uint8Array.of(VERSION, ALG_DIRECT);
  const nonce = options.nonce ? bytesOf(options.nonce) : randomBytes(NONCE_LEN);
  checkLen(nonce, NONCE_LEN, 'nonce');
  const k = await aesKey(bytesOf(key), 'encrypt');
  return concat(header, nonce, await gcmSeal(k, nonce, bytesOf(plaintext), concat(header, bytesOf(context))));
}

export async function openWithKey(key, sealed, context) {
  checkLen(bytesOf(key), KEY_LEN, 'key');
  sealed = bytesOf(sealed);
  if (sealed.length < 2 + NONCE_LEN + TAG_LEN) throw new CryptoError('sealed record too short');
  if (sealed[0] !== VERSION || sealed[1] !== ALG_DIRECT) throw new CryptoError('unexpected record algorithm');
  const k = await aesKey(bytesOf(key), 'decrypt');
  return gcmOpen(k, sealed.subarray(2, 14), sealed.subarray(14), concat(sealed.subarray(0, 2), bytesOf(context)), 'record');
}

// -- attachment streams (stream.py) ----------------------------------------------

function streamNonce(index, final) {
  const nonce = new Uint8Array(NONCE_LEN); // index as 11-byte big-endian, then the final flag
  const view = new DataView(nonce.buffer);
  view.setUint32(3, Math.floor(index / 2 ** 32));
  view.setUint32(7, index >>> 0);
  nonce[11] = final ? 1 : 0;
  return nonce;
}

async function streamKey(dek, salt, reportId, attachmentId, usage) {
  checkLen(dek, KEY_LEN, 'DEK');
  checkLen(reportId, ID_LEN, 'report id');
  checkLen(attachmentId, ID_LEN, 'attachment id');
  return aesKey(await hkdf(dek, concat(utf8('portal/v1/stream'), reportId, attachmentId), KEY_LEN, salt), usage);
}

function checkChunkLog2(chunkLog2) {
  if (!Number.isInteger(chunkLog2) || chunkLog2 < 10 || chunkLog2 > 24) throw new CryptoError('chunk size out of range');
}

export function streamCiphertextSize(plaintextSize, chunkLog2 = DEFAULT_CHUNK_LOG2) {
  const chunks = Math.max(1, Math.ceil(plaintextSize / 2 ** chunkLog2));
  return STREAM_HEADER_LEN + plaintextSize + chunks * TAG_LEN;
}

/**
 * Encrypt a File/Blob into the STREAM format; resolves to a Blob.
 * Reads one chunk at a time with blob.slice(), so memory use does not grow with
 * the file; finished ciphertext is folded into Blobs the browser may keep on disk.
 * options: { salt } (tests only), { onProgress(bytesDone, total) }.
 */
export async function encryptStream(dek, reportId, attachmentId, blob, chunkLog2 = DEFAULT_CHUNK_LOG2, options = {}) {
  checkChunkLog2(chunkLog2);
  const salt = options.salt ? bytesOf(options.salt) : randomBytes(STREAM_SALT_LEN);
  checkLen(salt, STREAM_SALT_LEN, 'stream salt');
  const header = concat(Uint8Array.of(VERSION, ALG_STREAM, chunkLog2), salt);
  const key = await streamKey(bytesOf(dek), salt, bytesOf(reportId), bytesOf(attachmentId), 'encrypt');
  const chunk = 2 ** chunkLog2;
  const size = blob.size;
  const done = [];
  let pending = [header];
  for (let index = 0, offset = 0; ; index++, offset += chunk) {
    const final = offset + chunk >= size; // an exact multiple ends on a full final chunk, as in Python
    const plain = new Uint8Array(await blob.slice(offset, Math.min(offset + chunk, size)).arrayBuffer());
    pending.push(await gcmSeal(key, streamNonce(index, final), plain, header));
    if (options.onProgress) options.onProgress(Math.min(offset + chunk, size), size);
    if (pending.length >= 64 || final) {
      done.push(new Blob(pending));
      pending = [];
    }
    if (final) break;
  }
  return new Blob(done, { type: 'application/octet-stream' });
}

/**
 * Verify and decrypt a whole stream (Blob or bytes); resolves to a Uint8Array.
 * Like Python's decrypt_stream it releases nothing unless every chunk, including
 * the final flag, authenticates.
 */
export async function decryptStream(dek, reportId, attachmentId, data) {
  const blob = data instanceof Blob ? data : new Blob([bytesOf(data)]);
  if (blob.size < STREAM_HEADER_LEN) throw new CryptoError('attachment stream truncated');
  const header = new Uint8Array(await blob.slice(0, STREAM_HEADER_LEN).arrayBuffer());
  if (header[0] !== VERSION) throw new CryptoError('unknown stream version');
  if (header[1] !== ALG_STREAM) throw new CryptoError('unexpected stream algorithm');
  checkChunkLog2(header[2]);
  const key = await streamKey(bytesOf(dek), header.subarray(3), bytesOf(reportId), bytesOf(attachmentId), 'decrypt');
  const size = 2 ** header[2] + TAG_LEN;
  const parts = [];
  for (let index = 0, offset = STREAM_HEADER_LEN; ; index++, offset += size) {
    const sealed = new Uint8Array(await blob.slice(offset, offset + size).arrayBuffer());
    if (sealed.length < TAG_LEN) throw new CryptoError('attachment stream truncated');
    const final = offset + size >= blob.size;
    parts.push(await gcmOpen(key, streamNonce(index, final), sealed, header, 'attachment chunk'));
    if (final) return concat(...parts);
  }
}

// -- receipt codes (receipt.py) ----------------------------------------------------

export const WORD_COUNT = 8;
const PREFIX_LEN = 4;
const CODE_DOMAIN = 'portal/v1/receipt-code:';
// Python's re `[\s\-_.,;:/]+` on str: \s there is str.isspace(), which differs
// slightly from JavaScript's \s, so the set is spelled out.
const SEPARATORS = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\-_.,;:/]+/;

/** Parse the text of wordlist.txt; checks the invariants receipt.py relies on. */
export function parseWordlist(text) {
  const words = text.split(/\s+/).filter(Boolean);
  if (words.length !== 2048 || new Set(words.map((w) => w.slice(0, PREFIX_LEN))).size !== 2048) {
    throw new CryptoError('word list must hold 2048 words with unique 4-letter prefixes');
  }
  return words;
}

// Uniform integer in [0, n): mask to the next power of two and reject values
// >= n, so no index is more likely than another (no modulo bias).
function randomIndex(n) {
  const mask = 2 ** Math.ceil(Math.log2(n)) - 1;
  const buf = new Uint32Array(1);
  for (;;) {
    globalThis.crypto.getRandomValues(buf);
    const v = buf[0] & mask;
    if (v < n) return v;
  }
}

/** A new code: 8 words (88 bits with 2048 words), separated by single spaces. */
export function generateReceiptCode(words) {
  if (!Array.isArray(words) || words.length !== 2048) throw new CryptoError('word list must hold 2048 words');
  return Array.from({ length: WORD_COUNT }, () => words[randomIndex(words.length)]).join(' ');
}

const prefixIndexes = new WeakMap();

/** Canonical form of what a reporter typed (receipt.py normalise_receipt_code), or CryptoError. */
export function normaliseReceiptCode(raw, words) {
  if (typeof raw !== 'string' || [...raw].length > 200) throw new CryptoError('receipt code malformed');
  let index = prefixIndexes.get(words);
  if (!index) {
    index = new Map(words.map((w) => [w.slice(0, PREFIX_LEN), w]));
    prefixIndexes.set(words, index);
  }
  const tokens = raw.toLowerCase().split(SEPARATORS).filter(Boolean);
  if (tokens.length !== WORD_COUNT) throw new CryptoError('receipt code malformed');
  return tokens
    .map((token) => {
      const word = token.length >= PREFIX_LEN ? index.get(token.slice(0, PREFIX_LEN)) : undefined;
      if (word === undefined || !word.startsWith(token)) throw new CryptoError('receipt code malformed');
      return word;
    })
    .join(' ');
}

/**
 * Argon2id(password = "portal/v1/receipt-code:" + canonical code, salt = install salt).
 * params: { time_cost, memory_kib, parallelism } as in /keys.json. With `words`
 * the code is normalised first; without, it must already be canonical.
 */
export async function receiptSecret(code, installSalt, params, words = null) {
  const canonical = words ? normaliseReceiptCode(code, words) : code;
  if (typeof canonical !== 'string' || !/^[a-z]+(?: [a-z]+){7}$/.test(canonical)) throw new CryptoError('receipt code malformed');
  const salt = bytesOf(installSalt);
  if (salt.length < 16) throw new CryptoError('argon2 salt must be at least 16 bytes');
  const out = await argon2id({
    password: utf8(CODE_DOMAIN + canonical),
    salt,
    iterations: params.time_cost,
    memorySize: params.memory_kib,
    parallelism: params.parallelism,
    hashLength: 32,
    outputType: 'binary',
  });
  return new Uint8Array(out);
}

/** The reporter's X25519 private key: HKDF(secret, info "portal/v1/reporter-x25519"), no salt. */
export async function reporterPrivateKey(secret) {
  checkLen(bytesOf(secret), 32, 'receipt secret');
  return hkdf(bytesOf(secret), utf8('portal/v1/reporter-x25519'));
}

export async function reporterPublicKey(secret) {
  return x25519PublicFromPrivate(await reporterPrivateKey(secret));
}

// -- receipt format v2 (docs/crypto.md "Receipt format v2") -----------------------------
// Only the lookup token leaves the device; the reporter root stays here and opens the case.

/** HKDF(receipt secret, info "portal/v2/lookup-token"): the only value the sign-in posts. */
export async function lookupToken(secret) {
  checkLen(bytesOf(secret), 32, 'receipt secret');
  return hkdf(bytesOf(secret), utf8('portal/v2/lookup-token'));
}

/** HKDF(receipt secret, info "portal/v2/reporter-root"): the reporter's key material, never sent. */
export async function reporterRoot(secret) {
  checkLen(bytesOf(secret), 32, 'receipt secret');
  return hkdf(bytesOf(secret), utf8('portal/v2/reporter-root'));
}

async function reporterKeysV2(root) {
  checkLen(bytesOf(root), 32, 'reporter root');
  return {
    x25519Private: await hkdf(bytesOf(root), utf8('portal/v2/reporter-x25519')),
    wrapKey: await hkdf(bytesOf(root), utf8('portal/v2/reporter-wrap')),
  };
}

export async function reporterPublicKeyV2(root) {
  return x25519PublicFromPrivate((await reporterKeysV2(root)).x25519Private);
}

/** keys.py wrap_dek_for_reporter_root: version | 0x15 | sealWithKey(wrap key, inner wrap, 0x15 || report id). */
export async function wrapForReporterRoot(dek, root, reportId, options = {}) {
  const { x25519Private, wrapKey } = await reporterKeysV2(root);
  const inner = await innerWrap(dek, await x25519PublicFromPrivate(x25519Private), reportId, { ephemeralPrivate: options.ephemeralPrivate });
  const context = concat(Uint8Array.of(ALG_WRAP_REPORTER_V2), bytesOf(reportId));
  return concat(Uint8Array.of(VERSION, ALG_WRAP_REPORTER_V2), await sealWithKey(wrapKey, inner, context, { nonce: options.nonce }));
}

/** Open a v2 reporter wrap with the reporter root: the report's data key, on this device only. */
export async function unwrapForReporterRoot(wrap, root, reportId) {
  wrap = bytesOf(wrap);
  if (wrap.length < 2 || wrap[0] !== VERSION || wrap[1] !== ALG_WRAP_REPORTER_V2) throw new CryptoError('unexpected wrap algorithm');
  checkLen(bytesOf(reportId), ID_LEN, 'report id');
  const { x25519Private, wrapKey } = await reporterKeysV2(root);
  const inner = await openWithKey(wrapKey, wrap.subarray(2), concat(Uint8Array.of(ALG_WRAP_REPORTER_V2), bytesOf(reportId)));
  const dek = await openInnerWrap(inner, x25519Private, reportId);
  checkLen(dek, KEY_LEN, 'wrapped DEK');
  return dek;
}

// -- proof of work (puzzle.py) -------------------------------------------------------

/** SHA-256 over the ASCII of the salt's hex followed by the number in decimal (puzzle.py puzzle_hash). */
export async function puzzleHash(saltHex, number) {
  return new Uint8Array(await subtle.digest('SHA-256', utf8(`${saltHex}${number}`)));
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

const yieldToPage = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Solve a challenge from /challenge/<action>: the number n in [0, max] whose puzzleHash is `target`.
 * Tries 0, 1, 2, ... with hash-wasm's SHA-256 in WebAssembly (one WebCrypto call per try is
 * some twenty times slower; it is the fallback where WebAssembly is missing), handing the page
 * back to the browser every `batch` tries so that it stays responsive.
 * options: { onProgress(tried, max), batch }
 */
export async function solvePuzzle({ salt, target, max }, options = {}) {
  const want = typeof target === 'string' ? fromHex(target) : bytesOf(target);
  if (typeof salt !== 'string' || !/^[0-9a-f]{32}$/.test(salt) || want.length !== 32 || !Number.isInteger(max) || max < 0 || max > 0xffffffff) {
    throw new CryptoError('puzzle malformed');
  }
  let hasher = null;
  try {
    hasher = await createSHA256();
  } catch {
    hasher = null;
  }
  const batch = options.batch || 50000;
  for (let n = 0; n <= max; ) {
    const end = Math.min(max, n + batch - 1);
    for (; n <= end; n++) {
      let digest;
      if (hasher) {
        hasher.init();
        hasher.update(`${salt}${n}`);
        digest = hasher.digest('binary');
      } else {
        digest = await puzzleHash(salt, n);
      }
      if (sameBytes(digest, want)) return n;
    }
    if (options.onProgress) options.onProgress(n, max);
    await yieldToPage();
  }
  throw new CryptoError('puzzle has no solution');
}

/** True where this browser has what the JavaScript path needs; otherwise the form posts normally. */
export async function isSupported() {
  try {
    if (!globalThis.crypto?.subtle || typeof WebAssembly !== 'object' || typeof Blob !== 'function') return false;
    await subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']);
    return true;
  } catch {
    return false;
  }
}
