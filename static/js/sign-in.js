// Follow-up sign-in: with JavaScript the receipt code never leaves this device.
//
// The code is checked against the word list and turned into the receipt secret
// here (Argon2id in WebAssembly: portal/crypto/receipt.py), and the secret into
// the lookup token and the reporter root (receipt format v2, docs/crypto.md). Only
// the lookup token is posted, with a solved proof-of-work challenge (work.js); the
// reporter root stays in this tab's sessionStorage, where case.js uses it to open
// the case. If the token finds nothing while reports of the older format 1 remain,
// the server answers `legacy` and the secret is sent once, so that such a report
// is found and upgraded (after which only the token is ever sent).
// Without WebAssembly or /keys.json the form posts the code the ordinary way, with
// proof of work where this browser can solve it, and the server derives the secret.
//
// Markup contract (templates/reporter/sign_in.html):
//   <form id="sign-in-form" method="post" action="/follow-up" data-keys-url="/keys.json"
//         data-wordlist-url="/static/js/wordlist.txt" data-challenge-url="/challenge/sign-in">
//     <input name="csrf_token"> <input id="receipt_code" name="receipt_code"> </form>
//   <div id="sign-in-progress" role="status" hidden></div>

import { clearErrors, renewToken, serverErrors, showErrors } from './form-errors.js';
import * as pc from './portal-crypto.js';
import { Fallback, Unavailable, loadKeys, loadWords } from './published.js';
import { keepRoot } from './reporter-root.js';
import { proofOfWork, tryAddWorkInputs } from './work.js';
import { t } from './i18n.js';

const form = document.getElementById('sign-in-form');
const NOT_READY = t('Your code could not be checked on this device just now, so it was not sent. Try again in a few minutes.');
const WRONG_CODE = t('We could not find a report with that code. Check each word and try again.'); // views.py WRONG_CODE

function progress(message) {
  const region = document.getElementById('sign-in-progress');
  if (!region) return;
  region.textContent = message;
  region.hidden = !message;
}

function setBusy(busy) {
  form.setAttribute('aria-busy', String(busy));
  form.querySelectorAll('[type="submit"]').forEach((b) => b.toggleAttribute('disabled', busy));
}

let prepared = null;
function prepare() {
  if (!prepared) {
    prepared = Promise.all([pc.isSupported(), loadKeys(form.dataset.keysUrl), loadWords(form.dataset.wordlistUrl)]).then(
      ([supported, keys, words]) => {
        if (!supported) throw new Fallback('no WebAssembly or X25519');
        return { keys, words };
      },
    );
    prepared.catch(() => {
      prepared = null;
    });
  }
  return prepared;
}

async function postToken(token, secret = null) {
  const work = await proofOfWork(form.dataset.challengeUrl);
  const body = new FormData();
  body.append('csrf_token', form.elements.namedItem('csrf_token').value);
  body.append('mode', 'browser');
  body.append('lookup_token', pc.toHex(token));
  if (secret) body.append('receipt_secret', pc.toHex(secret)); // format 1 upgrade only
  body.append('pow_challenge', work.pow_challenge);
  body.append('pow_solution', work.pow_solution);
  const response = await fetch(form.action, { method: 'POST', body, headers: { Accept: 'application/json' }, credentials: 'same-origin' });
  const result = await response.json().catch(() => null);
  return { response, result };
}

let sending = false;

async function onSubmit(event) {
  event.preventDefault();
  if (sending) return;
  sending = true;
  clearErrors(form);
  setBusy(true);
  try {
    let ready;
    try {
      ready = await prepare();
    } catch (error) {
      if (error instanceof Unavailable) {
        showErrors(form, [{ field: '', message: NOT_READY }]);
        return;
      }
      if (!(error instanceof Fallback)) throw error;
      await tryAddWorkInputs(form);
      form.submit(); // the server derives the secret from the code instead
      return;
    }
    const typed = form.elements.namedItem('receipt_code').value;
    if (!typed.trim()) {
      showErrors(form, [{ field: 'receipt_code', message: t('Enter your receipt code') }]);
      return;
    }
    let canonical;
    try {
      canonical = pc.normaliseReceiptCode(typed, ready.words);
    } catch {
      showErrors(form, [{ field: 'receipt_code', message: WRONG_CODE }]);
      return;
    }
    progress(t('Checking your code on this device…'));
    const { keys } = ready;
    const secret = await pc.receiptSecret(canonical, pc.fromHex(keys.install_salt), keys.argon2);
    const token = await pc.lookupToken(secret);
    progress(t('Signing in…'));
    let { response, result } = await postToken(token);
    if (result && result.retry === 'work') {
      renewToken(form, result);
      ({ response, result } = await postToken(token));
    }
    if (result && result.legacy === true) {
      renewToken(form, result); // a report from before format 2: found (and upgraded) only with the secret
      ({ response, result } = await postToken(token, secret));
    }
    if (response.ok && result && result.ok === true && typeof result.next === 'string' && result.next.startsWith('/')) {
      keepRoot(pc.toHex(await pc.reporterRoot(secret)));
      window.location.assign(result.next);
      return;
    }
    renewToken(form, result);
    const errors = serverErrors(result);
    if (errors) showErrors(form, errors);
    else if (response.status === 503) showErrors(form, [{ field: '', message: t('The portal is very busy just now. Please try again in a minute.') }]);
    else showErrors(form, [{ field: '', message: t('You could not be signed in just now. Please try again in a few minutes.') }]);
  } catch {
    showErrors(form, [{ field: '', message: t('You could not be signed in because of a connection problem. Check your connection and try again.') }]);
  } finally {
    sending = false;
    progress('');
    setBusy(false);
  }
}

if (form) {
  form.addEventListener('submit', onSubmit);
  prepare().catch(() => {}); // warm up: the word list and keys are ready by the time the code is typed
}
