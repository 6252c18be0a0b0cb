// What the portal publishes for browsers: /keys.json and the receipt-code word list.
//
// Shared by the report form (encrypts to the recipients, makes a receipt code) and
// the follow-up sign-in (derives the receipt secret from the code on this device).

import * as pc from './portal-crypto.js';

export class Fallback extends Error {} // this browser cannot do it: post the form as it is
// The portal did not publish usable keys (or the word list): with JavaScript running, nothing is
// posted for the server to encrypt or derive instead; the reporter is told and keeps what they typed.
export class Unavailable extends Error {}

const hex = (s, n) => typeof s === 'string' && s.length === 2 * n && /^[0-9a-f]+$/i.test(s);

/** /keys.json, checked; `recipients: true` also requires at least one recipient key and the screening key. */
export async function loadKeys(url, { recipients = false } = {}) {
  const response = await fetch(url || '/keys.json', { headers: { Accept: 'application/json' }, cache: 'no-store' });
  if (!response.ok) throw new Unavailable('keys unavailable');
  const keys = await response.json();
  const ok =
    keys.version === 1 &&
    typeof keys.install_salt === 'string' &&
    keys.install_salt.length >= 32 &&
    hex(keys.install_salt, keys.install_salt.length / 2) &&
    [keys.argon2?.time_cost, keys.argon2?.memory_kib, keys.argon2?.parallelism].every(Number.isInteger) &&
    Array.isArray(keys.recipients) &&
    (!recipients || keys.recipients.length > 0) &&
    // The screening key the subject list is sealed to (a report form needs it; sign-in does not).
    (!recipients || (keys.screening && /^[0-9a-f]{32}$/.test(keys.screening.fingerprint) && hex(keys.screening.intake_x25519, 32))) &&
    keys.recipients.every((r) => /^[0-9a-f]{32}$/.test(r.fingerprint) && hex(r.intake_x25519, 32)) &&
    Number.isInteger(keys.chunk_log2) &&
    [keys.limits?.file_bytes, keys.limits?.report_bytes, keys.limits?.files].every(Number.isInteger);
  if (!ok) throw new Unavailable('keys malformed');
  return keys;
}

export async function loadWords(url) {
  const response = await fetch(url || '/static/js/wordlist.txt');
  if (!response.ok) throw new Unavailable('word list unavailable');
  return pc.parseWordlist(await response.text());
}
