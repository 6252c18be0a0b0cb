// The case page of a JavaScript follow-up, opened on this device.
//
// The reporter host holds no key to the case (receipt format v2, docs/crypto.md). This
// script takes the reporter root that sign-in.js left in this tab (reporter-root.js),
// fetches the case as sealed records (/follow-up/case.json), opens the reporter's wrap of
// the case key and every record with WebCrypto (portal-crypto.js), and shows them with
// DOM text nodes only: nothing a reporter or reviewer wrote is ever parsed as HTML.
// A file is fetched as ciphertext and offered to be saved only once every chunk and the
// final flag have authenticated (decryptStream). Replies are sealed here (reply-form.js).
//
// Markup contract (templates/reporter/case_sealed.html): #case with data-case-url,
// data-file-url (with "ID" for the attachment id) and data-sign-in-url; #case-status,
// #case-no-key, #case-opened, #conversation-list, #no-messages, #report-answers,
// #category-labels, #reply-form, #sign-out-form.

import * as pc from './portal-crypto.js';
import { enableSealedReply } from './reply-form.js';
import { forgetRoot, takeRoot } from './reporter-root.js';
import { t } from './i18n.js';

const page = document.getElementById('case');
const UNREADABLE_MESSAGE = t('This message could not be decrypted: it was damaged after it was sent. Everything else on this page is unaffected.');
const UNREADABLE_FILE = t('That file could not be decrypted: it was damaged after it was sent. Nothing was downloaded.');
const CHOICES = { yes: t('Yes'), no: t('No'), unsure: t('Not sure') };
const HOW_KNOWN = { saw: t('I saw or heard it myself'), told: t('Someone told me'), suspect: t('I suspect it') };
const decoder = new TextDecoder('utf-8', { fatal: true });

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// Month names from the catalog: browsers' own date formatting may lack Welsh.
const MONTHS = [t('January'), t('February'), t('March'), t('April'), t('May'), t('June'), t('July'), t('August'),
  t('September'), t('October'), t('November'), t('December')];

function day(iso) {
  const date = new Date(`${iso}T00:00:00Z`);
  return Number.isNaN(date.getTime()) ? '' : `${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()}`;
}

function size(bytes) {
  if (!Number.isFinite(bytes) || bytes < 1000) return t('%(count)s bytes', { count: Math.max(0, bytes | 0) });
  const units = ['kB', 'MB', 'GB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** A name to show and save as: NFC, no control or format characters (bidi overrides), capped. */
function safeName(name) {
  const clean = String(name).normalize('NFC').replace(/[\p{Cc}\p{Cf}/\\]/gu, '').trim();
  return [...clean].slice(0, 150).join('') || 'attachment';
}

async function openJson(dek, reportId, purpose, sealedB64, recordId) {
  const plain = await pc.openRecord(dek, reportId, purpose, pc.fromBase64(sealedB64), recordId);
  return JSON.parse(decoder.decode(plain));
}

async function openMessage(dek, reportId, m) {
  try {
    const body = await openJson(dek, reportId, 'message', m.sealed_body, pc.fromHex(m.id));
    return typeof body?.text === 'string' ? body.text : null;
  } catch {
    return null;
  }
}

async function openMeta(dek, reportId, a) {
  try {
    const meta = await openJson(dek, reportId, 'attachment-meta', a.sealed_meta, pc.fromHex(a.id));
    return { readable: true, name: safeName(typeof meta?.name === 'string' ? meta.name : 'attachment'), size: Number.isInteger(meta?.size) ? meta.size : 0 };
  } catch {
    return { readable: false };
  }
}

function saveAs(bytes, name) {
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const link = el('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function fileItem(ctx, file) {
  if (!file.meta.readable) return el('li', null, t('A file whose details could not be decrypted'));
  const note = el('span', 'govuk-body-s portal-file-status', '');
  note.setAttribute('role', 'status');
  const url = ctx.fileUrl.replace('ID', file.id);
  const link = el('a', 'govuk-link', file.meta.name); // a real link to the ciphertext, opened here instead
  link.href = url;
  link.dataset.attachment = file.id;
  let busy = false;
  link.addEventListener('click', async (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    link.setAttribute('aria-busy', 'true');
    note.textContent = ' ' + t('Decrypting on this device…');
    try {
      const response = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
      if (!response.ok) throw new Error('not available');
      const plain = await pc.decryptStream(ctx.dek, ctx.reportId, pc.fromHex(file.id), await response.blob());
      saveAs(plain, file.meta.name); // only now: every chunk and the final flag authenticated
      note.textContent = ' ' + t('Decrypted and checked.');
    } catch (error) {
      note.textContent = error instanceof pc.CryptoError ? ` ${UNREADABLE_FILE}` : ' ' + t('The file could not be fetched. Check your connection and try again.');
    } finally {
      busy = false;
      link.removeAttribute('aria-busy');
    }
  });
  return el('li', null, link, ' ', el('span', 'govuk-body-s', `(${size(file.meta.size)})`), note);
}

function fileList(ctx, files) {
  return files.length ? el('ul', 'govuk-list', ...files.map((f) => fileItem(ctx, f))) : null;
}

function renderConversation(ctx, messages, filesByMessage) {
  const list = document.getElementById('conversation-list');
  document.getElementById('no-messages').hidden = messages.length > 0;
  for (const m of messages) {
    const who = el('strong', null, m.from_reporter ? t('You') : t('Reviewer'));
    const meta = el('p', 'portal-message__meta govuk-body-s', who, ` · ${day(m.sent_on)}`);
    const body = m.text === null
      ? el('div', 'govuk-inset-text portal-unreadable', UNREADABLE_MESSAGE)
      : el('div', 'portal-message__text govuk-body', m.text);
    const kind = m.from_reporter ? 'portal-message--reporter' : 'portal-message--reviewer';
    list.append(el('li', `portal-message ${kind}`, meta, body, fileList(ctx, filesByMessage.get(m.id) || [])));
  }
}

function row(label, ...value) {
  return el('div', 'govuk-summary-list__row', el('dt', 'govuk-summary-list__key', label), el('dd', 'govuk-summary-list__value portal-pre', ...value));
}

function renderAnswers(ctx, a, files) {
  const list = document.getElementById('report-answers');
  const text = (v) => (typeof v === 'string' ? v : '');
  list.append(row(t('What happened'), text(a.what_happened)));
  (Array.isArray(a.people) ? a.people : []).forEach((p, i) => {
    const parts = [[t('Name'), p?.name], [t('Rank or role'), p?.role], [t('Collar or staff number'), p?.identifier], [t('Unit or station'), p?.unit]]
      .filter(([, v]) => text(v))
      .map(([label, v]) => el('span', 'portal-field', `${label}: ${v}`));
    const spaced = parts.flatMap((part, j) => (j ? [el('br'), part] : [part]));
    list.append(row(t('Person %(number)s', { number: i + 1 }), ...spaced));
  });
  const category = document.querySelector(`#category-labels [data-category="${CSS.escape(text(a.category))}"]`);
  const rows = [
    [t('When'), text(a.when)], [t('Where'), text(a.where)], [t('Anyone at risk now'), CHOICES[a.risk_now] || ''],
    [t('Vulnerable person involved'), CHOICES[a.vulnerable_person] || ''], [t('How you know'), HOW_KNOWN[a.how_known] || ''],
    [t('Who else knows'), text(a.witnesses)], [t('Kind of concern'), category ? category.textContent : ''],
  ];
  for (const [label, value] of rows) if (value) list.append(row(label, value));
  if (files.length) list.append(row(t('Evidence'), fileList(ctx, files)));
}

function showStatus(message) {
  const status = document.getElementById('case-status');
  status.textContent = message;
  status.hidden = !message;
}

function altered() {
  showStatus('');
  document.getElementById('case-altered').hidden = false;
}

function noKey() {
  showStatus('');
  document.getElementById('case-no-key').hidden = false;
}

async function openCase() {
  const rootHex = takeRoot();
  if (!rootHex) return noKey();
  const response = await fetch(page.dataset.caseUrl, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } });
  const data = response.ok && (response.headers.get('Content-Type') || '').startsWith('application/json') ? await response.json() : null;
  if (!data) {
    const signIn = new URL(page.dataset.signInUrl, window.location.href); // it may carry ?lang=
    signIn.searchParams.set('expired', '1');
    window.location.assign(signIn.href); // the session ended
    return;
  }
  const reportId = pc.fromHex(data.report_id);
  let dek;
  try {
    dek = await pc.unwrapForReporterRoot(pc.fromBase64(data.reporter_wrap), pc.fromHex(rootHex), reportId);
  } catch {
    forgetRoot(); // not this case's code (another tab signed in to another case): ask for the code again
    return noKey();
  }
  if (data.key_commitment) { // reports received before signatures have none (docs/crypto.md, "Integrity")
    try {
      await pc.checkKeyCommitment(dek, reportId, pc.fromBase64(data.key_commitment));
    } catch {
      return altered(); // the wrap opened, but to another key than the report was received with
    }
  }
  const ctx = { dek, reportId, fileUrl: page.dataset.fileUrl };
  const answers = await openJson(dek, reportId, 'report', data.sealed_report, new Uint8Array(0));
  const messages = await Promise.all(data.messages.map(async (m) => ({ ...m, text: await openMessage(dek, reportId, m) })));
  const files = await Promise.all(data.attachments.map(async (a) => ({ ...a, meta: await openMeta(dek, reportId, a) })));
  const byMessage = new Map();
  for (const f of files) {
    const key = f.message_id || '';
    byMessage.set(key, [...(byMessage.get(key) || []), f]);
  }
  renderConversation(ctx, messages, byMessage);
  renderAnswers(ctx, answers, byMessage.get('') || []);
  const form = document.getElementById('reply-form');
  enableSealedReply(form, reportId, dek);
  showStatus('');
  document.getElementById('case-opened').hidden = false;
  page.dataset.opened = 'true';
  if (window.location.hash === '#conversation') document.getElementById('conversation').scrollIntoView();
}

if (page) {
  document.getElementById('sign-out-form')?.addEventListener('submit', forgetRoot);
  openCase().catch(() => {
    showStatus(t('Your case could not be opened on this device just now. Reload the page to try again.'));
  });
}
