// The report form, encrypted on this device before anything is sent.
//
// Without JavaScript (or where this browser lacks X25519 / WebAssembly) the form
// posts normally and the server encrypts on receipt. With it, the answers and
// every file are sealed here (portal-crypto.js) and only ciphertext, key wraps
// and the lookup token derived from a receipt code generated here are posted.
// Nothing typed, no file and no file name is sent in clear, and nothing is logged.
//
// Markup contract (templates/reporter/report_form.html):
//   <form id="report-form" method="post" enctype="multipart/form-data" action="/report"
//         data-keys-url="/keys.json" data-wordlist-url="/static/js/wordlist.txt">
//   <div id="encrypt-progress" hidden aria-live="polite"></div>
//   <template id="receipt-template"> … <p data-receipt-code></p> … </template>

import { clearErrors as clearFormErrors, renewToken, serverErrors, showErrors as showFormErrors } from './form-errors.js';
import * as pc from './portal-crypto.js';
import { Fallback, Unavailable, loadKeys as loadPublishedKeys, loadWords as loadPublishedWords } from './published.js';

// Same words as portal/reports/service.py NO_INDEPENDENT_BODY.
const NO_INDEPENDENT_BODY = t("This report cannot be sent only to the independent body just now: the portal has no key for it. Nothing was sent. Untick that choice to send it to this force's reviewers, or try again later.");
const NOT_READY = t('The portal cannot encrypt your report on this device just now, so nothing was sent. Try again in a few minutes. Nothing you wrote has been lost.');
import { guardReceipt } from './receipt.js'; // copy / print buttons and the leave prompt of the receipt; adds `js-enabled`
import { appendWork, proofOfWork, tryAddWorkInputs } from './work.js';
import { number, t } from './i18n.js';

const form = document.getElementById('report-form');
const PERSON_FIELDS = ['name', 'role', 'identifier', 'unit'];
const MAX_PEOPLE = Number(form?.dataset.maxPeople || 10); // the max_people setting
const SHORT = 200; // and the Length limits there, checked here because the server cannot read the answers
const LONG = 20000;

// -- messages -------------------------------------------------------------------

function megabytes(n) {
  return n >= 1024 * 1024 ? `${Math.round(n / (1024 * 1024))} MB` : `${Math.max(1, Math.round(n / 1024))} KB`;
}

const clearErrors = () => clearFormErrors(form);
const showErrors = (errors) => showFormErrors(form, errors);

function progress(message) {
  const region = document.getElementById('encrypt-progress');
  if (!region) return;
  region.textContent = message;
  region.hidden = !message;
}

// -- "Add another person" ---------------------------------------------------------

function personIndexes() {
  const seen = new Set();
  for (const el of form.elements) {
    const m = /^people-(\d+)-name$/.exec(el.name || '');
    if (m) seen.add(Number(m[1]));
  }
  return [...seen].sort((a, b) => a - b);
}

function personGroup(index) {
  const input = form.elements.namedItem(`people-${index}-name`);
  return input && input.closest('[data-person], fieldset');
}

// The server's "Add another person" is a submit button that re-shows the form with one more
// person (no JavaScript needed); here it adds the block in place instead, without a round trip.
function setUpAddPerson() {
  const button = document.getElementById('add-person');
  const indexes = personIndexes();
  if (!button || !indexes.length || !personGroup(indexes[indexes.length - 1])) return;
  const refresh = () => {
    button.hidden = personIndexes().length >= MAX_PEOPLE;
    const hint = document.getElementById('add-person-hint');
    if (hint) hint.hidden = button.hidden;
  };
  refresh();

  button.addEventListener('click', (event) => {
    event.preventDefault();
    const all = personIndexes();
    const last = all[all.length - 1];
    const next = last + 1;
    const clone = personGroup(last).cloneNode(true);
    // people-2-name -> people-3-name, people-hint-2 -> people-hint-3
    const renumber = new RegExp(`\\b(people-(?:[a-z]+-)?)${last}(?![0-9])`, 'g');
    for (const el of [clone, ...clone.querySelectorAll('*')]) {
      for (const attr of ['id', 'name', 'for', 'aria-describedby', 'aria-controls']) {
        const value = el.getAttribute(attr);
        if (value) el.setAttribute(attr, value.replace(renumber, `$1${next}`));
      }
      if ('value' in el && el.tagName !== 'BUTTON') el.value = '';
    }
    clone.querySelectorAll('.govuk-error-message').forEach((el) => el.remove());
    clone.querySelectorAll('.govuk-form-group--error').forEach((el) => el.classList.remove('govuk-form-group--error'));
    clone.querySelectorAll('.govuk-input--error').forEach((el) => el.classList.remove('govuk-input--error'));
    // "Person 3" -> "Person 4" in the legend, if it counts people that way.
    const legend = clone.querySelector('legend');
    if (legend) {
      const walker = document.createTreeWalker(legend, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        node.textContent = node.textContent.replace(new RegExp(`\\b${last + 1}\\b`), String(next + 1));
      }
    }
    personGroup(last).after(clone);
    clone.querySelector('input, textarea')?.focus();
    refresh();
  });
}

// -- what is sent -----------------------------------------------------------------

function text(data, name) {
  const value = data.get(name);
  return typeof value === 'string' ? value : '';
}

// Same document as portal/reports/answers.py ReportAnswers.to_json (keys in this
// order; text answers trimmed like the server's form.answers()).
function reportDocument() {
  const data = new FormData(form);
  const people = personIndexes()
    .map((i) => Object.fromEntries(PERSON_FIELDS.map((f) => [f, text(data, `people-${i}-${f}`).trim()])))
    .filter((person) => PERSON_FIELDS.some((f) => person[f] !== ''));
  return {
    v: 1,
    what_happened: text(data, 'what_happened').trim(),
    people,
    when: text(data, 'when_happened').trim(),
    where: text(data, 'where_happened').trim(),
    risk_now: text(data, 'risk_now'),
    vulnerable_person: text(data, 'vulnerable_person'),
    witnesses: text(data, 'witnesses').trim(),
    how_known: text(data, 'how_known'),
    category: text(data, 'category'),
    // Only when ticked, as the server leaves it out otherwise (templates/reporter/_independent_choice.html).
    ...(text(data, 'only_independent') === 'yes' ? { only_independent: true } : {}),
  };
}

function chosenFiles() {
  const input = form.elements.namedItem('evidence');
  return input && input.files ? Array.from(input.files) : [];
}

const length = (s) => [...s].length; // code points, as Python's len()

// The server cannot see the answers on this path, so its field rules are applied here.
function checkAnswers(doc, files, keys) {
  const errors = [];
  if (!doc.what_happened) errors.push({ field: 'what_happened', message: t('Tell us what happened. A few sentences are enough to start.') });
  else if (length(doc.what_happened) > LONG) errors.push({ field: 'what_happened', message: t('This answer must be %(count)s characters or fewer', { count: number(LONG) }) });
  if (length(doc.witnesses) > LONG) errors.push({ field: 'witnesses', message: t('This answer must be %(count)s characters or fewer', { count: number(LONG) }) });
  if (length(doc.when) > SHORT) errors.push({ field: 'when_happened', message: t('When it happened must be %(count)s characters or fewer', { count: SHORT }) });
  if (length(doc.where) > SHORT) errors.push({ field: 'where_happened', message: t('Where it happened must be %(count)s characters or fewer', { count: SHORT }) });
  const data = new FormData(form);
  for (const i of personIndexes()) {
    for (const f of PERSON_FIELDS) {
      const name = `people-${i}-${f}`;
      if (length(text(data, name).trim()) > SHORT) errors.push({ field: name, message: t('This answer must be %(count)s characters or fewer', { count: SHORT }) });
    }
  }

  // The server counts encrypted bytes, so compare the size each file will have once encrypted.
  const { file_bytes: fileMax, report_bytes: totalMax, files: countMax } = keys.limits;
  if (files.length > countMax) errors.push({ field: 'evidence', message: t('You can attach up to %(count)s files at a time.', { count: countMax }) });
  let total = 0;
  for (const file of files) {
    const size = pc.streamCiphertextSize(file.size, keys.chunk_log2);
    total += size;
    if (size > fileMax) errors.push({ field: 'evidence', message: t('%(name)s is larger than %(size)s. Attach a smaller copy, or split it into parts.', { name: file.name, size: megabytes(fileMax) }) });
  }
  if (total > totalMax && files.every((f) => pc.streamCiphertextSize(f.size, keys.chunk_log2) <= fileMax)) {
    errors.push({ field: 'evidence', message: t('All files together must be smaller than %(size)s.', { size: megabytes(totalMax) }) });
  }
  return errors;
}

// -- keys and word list -------------------------------------------------------------

const loadKeys = () => loadPublishedKeys(form.dataset.keysUrl, { recipients: true });
const loadWords = () => loadPublishedWords(form.dataset.wordlistUrl);

// Started at page load so the slow parts are ready by the time the reporter sends.
let prepared = null;
function prepare() {
  if (!prepared) {
    prepared = Promise.all([pc.isSupported(), loadKeys(), loadWords()]).then(([supported, keys, words]) => {
      if (!supported) throw new Fallback('no X25519 or WebAssembly');
      return { keys, words };
    });
    prepared.catch(() => {
      prepared = null; // try again on the next submit: the network may be back
    });
  }
  return prepared;
}

// -- sealing and sending --------------------------------------------------------------

// Under a flood the portal asks every browser for a few seconds of work first (work.js).
async function checkWork() {
  progress(t('Preparing to send: a short check that keeps the portal open for everyone…'));
  return proofOfWork(form.dataset.challengeUrl, (tried, max) => max > 200000 && progress(t('Preparing to send: a short check that keeps the portal open for everyone…') + ` ${Math.min(99, Math.floor((100 * tried) / max))}%`));
}

// Same document as portal/reports/answers.py subject_document: names, collar/staff numbers and
// ranks only (and the reporter's choice of the independent body alone, which screening honours).
function subjectDocument(people, onlyIndependent) {
  const listed = people
    .map((p) => {
      const entry = { name: (p.name || '').trim(), identifier: (p.identifier || '').trim() };
      if ((p.role || '').trim() !== '') entry.role = p.role.trim();
      return entry;
    })
    .filter((p) => p.name !== '' || p.identifier !== '' || p.role);
  return JSON.stringify({ v: 1, people: listed, ...(onlyIndependent ? { only_independent: true } : {}) });
}

// Who the data key is wrapped to: everyone published, or (the reporter's choice) the independent
// body and the recovery key only, so that no reviewer of this force ever holds a wrap of it.
function chosenRecipients(keys, onlyIndependent) {
  if (!onlyIndependent) return keys.recipients;
  const chosen = keys.recipients.filter((r) => r.kind === 'body' || r.kind === 'recovery');
  if (!chosen.some((r) => r.kind === 'body')) throw new Unavailable('no independent body key');
  return chosen;
}

async function sealAndSend(keys, words, doc, files) {
  const work = await checkWork();
  progress(t('Encrypting your report on this device…'));
  const code = pc.generateReceiptCode(words);
  const secret = await pc.receiptSecret(code, pc.fromHex(keys.install_salt), keys.argon2);
  const reportId = pc.randomBytes(pc.ID_LEN);
  const dek = pc.randomBytes(pc.KEY_LEN);

  const body = new FormData();
  body.append('csrf_token', text(new FormData(form), 'csrf_token'));
  body.append('mode', 'browser');
  appendWork(body, work); // before the files: the server takes no file without it
  body.append('report_id', pc.toHex(reportId));
  body.append('lookup_token', pc.toHex(await pc.lookupToken(secret))); // never the secret (docs/crypto.md, format v2)
  // The server flags urgent reports for triage from this one answer, as it does on the no-JavaScript path.
  body.append('urgent', doc.risk_now === 'yes' ? 'yes' : 'no');
  body.append('sealed_report', pc.toBase64(await pc.sealRecord(dek, reportId, 'report', pc.utf8(JSON.stringify(doc)))));
  body.append('reporter_wrap', pc.toBase64(await pc.wrapForReporterRoot(dek, await pc.reporterRoot(secret), reportId)));
  // Which key every wrap below holds: each recipient checks it after unwrapping (docs/crypto.md, "Integrity").
  body.append('key_commitment', pc.toBase64(await pc.keyCommitment(dek, reportId)));
  const onlyIndependent = doc.only_independent === true;
  if (onlyIndependent) body.append('only_independent', 'yes');
  for (const r of chosenRecipients(keys, onlyIndependent)) {
    body.append(`recipient_inner.${r.fingerprint}`, pc.toBase64(await pc.innerWrap(dek, pc.fromHex(r.intake_x25519), reportId)));
  }
  // Who the report names, and nothing else, for the triage host's screening (conflicts, links).
  const subjects = pc.utf8(subjectDocument(doc.people, onlyIndependent));
  body.append('subjects_inner', pc.toBase64(await pc.sealSubjectsInner(subjects, pc.fromHex(keys.screening.intake_x25519), reportId)));
  body.append('screening_fingerprint', keys.screening.fingerprint); // refused if the key changed since page load

  for (const [n, file] of files.entries()) {
    const label = files.length > 1 ? t('Encrypting file %(number)s of %(count)s on this device…', { number: n + 1, count: files.length }) : t('Encrypting your file on this device…');
    progress(label);
    const attachmentId = pc.randomBytes(pc.ID_LEN);
    const idHex = pc.toHex(attachmentId);
    const meta = pc.utf8(JSON.stringify({ name: file.name, type: file.type, size: file.size }));
    body.append(`attachment_meta.${idHex}`, pc.toBase64(await pc.sealRecord(dek, reportId, 'attachment-meta', meta, attachmentId)));
    const encrypted = await pc.encryptStream(dek, reportId, attachmentId, file, keys.chunk_log2, {
      onProgress: (done, total) => total > 4 << 20 && progress(`${label} ${Math.floor((100 * done) / total)}%`),
    });
    body.append(`attachment.${idHex}`, encrypted, 'encrypted.bin');
  }

  progress(t('Sending your encrypted report…'));
  const response = await fetch(form.action, { method: 'POST', body, headers: { Accept: 'application/json' }, credentials: 'same-origin' });
  let result = null;
  try {
    result = await response.json();
  } catch {
    result = null; // an HTML error page (rate limit, proxy error…)
  }
  return { code, response, result };
}

function showReceipt(code, sentUrl) {
  const template = document.getElementById('receipt-template');
  const main = form.closest('main') || document.querySelector('main');
  const content = template.content.cloneNode(true);
  content.querySelectorAll('[data-receipt-code]').forEach((el) => {
    el.textContent = code;
  });
  const words = code.split(' ');
  content.querySelectorAll('[data-receipt-word]').forEach((el, i) => {
    el.textContent = words[i] || '';
  });
  // A reload (or coming back) must not show the filled-in form again: this entry becomes the
  // "your report was received" page. The code itself is never stored, not even in history.
  if (sentUrl) window.history.replaceState(null, '', sentUrl);
  document.querySelectorAll('.portal-header__nav').forEach((nav) => nav.remove());
  const title = content.querySelector('[data-page-title]');
  if (title) document.title = title.getAttribute('data-page-title');
  main.replaceChildren(content);
  window.scrollTo(0, 0);
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus();
  }
  guardReceipt();
}

function setBusy(busy) {
  form.classList.toggle('portal-busy', busy);
  form.setAttribute('aria-busy', String(busy));
  form.querySelectorAll('[type="submit"]').forEach((b) => {
    b.toggleAttribute('disabled', busy);
    b.setAttribute('aria-disabled', String(busy));
  });
}

let sending = false;

async function onSubmit(event) {
  event.preventDefault();
  if (sending) return;
  clearErrors();
  if (!form.reportValidity()) return;
  // Files already encrypted by the server after an earlier no-JavaScript attempt
  // travel in a draft token that only the server path understands.
  if (text(new FormData(form), 'draft')) {
    setBusy(true);
    await tryAddWorkInputs(form);
    form.submit();
    return;
  }

  sending = true;
  setBusy(true);
  try {
    let ready;
    try {
      ready = await prepare();
    } catch (error) {
      if (error instanceof Fallback) {
        await tryAddWorkInputs(form); // with proof of work, the server's Argon2id line takes it first
        form.submit(); // the server encrypts on receipt instead
        return;
      }
      if (error instanceof Unavailable) {
        showErrors([{ field: '', message: NOT_READY }]);
        return;
      }
      throw error; // network failure: reported below, input kept
    }
    const { keys, words } = ready;
    const doc = reportDocument();
    const files = chosenFiles();
    const problems = checkAnswers(doc, files, keys);
    if (doc.only_independent && !keys.recipients.some((r) => r.kind === 'body')) {
      problems.push({ field: 'only_independent', message: NO_INDEPENDENT_BODY });
    }
    if (problems.length) {
      showErrors(problems);
      return;
    }

    let sent = await sealAndSend(keys, words, doc, files);
    if (sent.result && sent.result.retry === 'work') {
      renewToken(form, sent.result); // the check ran out of time (a slow device, a long upload): once more
      sent = await sealAndSend(keys, words, doc, files);
    }
    const { code, response, result } = sent;
    if (response.ok && result && result.ok === true) {
      showReceipt(code, typeof result.sent === 'string' && result.sent.startsWith('/') ? result.sent : null);
      return;
    }
    renewToken(form, result); // the form token is single use: the server sends a fresh one with any error
    const errors = serverErrors(result);
    if (errors) {
      showErrors(errors);
    } else if (response.status === 503) {
      showErrors([{ field: '', message: t('The portal is very busy just now. Send your report again in a minute. Nothing you wrote has been lost.') }]);
    } else {
      showErrors([{ field: '', message: t('Your report was not received. Send it again in a few minutes. Nothing you wrote has been lost.') }]);
    }
  } catch {
    // fetch rejects on network failure; nothing about the content is logged.
    showErrors([{ field: '', message: t('Your report could not be sent because of a connection problem. Check your connection and send again. Nothing you wrote has been lost.') }]);
  } finally {
    sending = false;
    progress('');
    if (form.isConnected) setBusy(false);
  }
}

if (form) {
  // The browser may restore what was typed after Back: the receipt replaces this page's history entry,
  // so a sent form never comes back (templates/reporter/report_form.html).
  form.removeAttribute('autocomplete');
  setUpAddPerson();
  form.addEventListener('submit', onSubmit);
  prepare().catch(() => {}); // warm up; errors are dealt with on submit
}
