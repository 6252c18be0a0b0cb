// The follow-up reply, encrypted on this device before it is sent.
//
// case.js calls enableSealedReply() once it has opened the case key on this device
// (the server never has it). The message and any files are then sealed here exactly
// as the server would seal them, and the reply never reaches the server in clear.
// The page case.js runs on belongs to a JavaScript session, which holds no key: a
// form posted without this script is refused there, and nothing is kept.
//
// Markup contract (templates/reporter/_reply_form.html):
//   <form id="reply-form" method="post" enctype="multipart/form-data" action="/follow-up/reply"
//         data-file-limit="<bytes>" data-files="<n>" data-challenge-url="/challenge/reply">
// A sealed reply carries a solved proof-of-work challenge (work.js), ahead of its files.

import { showErrors } from './form-errors.js';
import * as pc from './portal-crypto.js';
import { appendWork, proofOfWork } from './work.js';
import { t } from './i18n.js';

async function seal(form, reportId, dek, text, files) {
  const messageId = pc.randomBytes(pc.ID_LEN);
  const body = new FormData();
  body.append('csrf_token', form.elements.namedItem('csrf_token').value);
  body.append('mode', 'browser');
  appendWork(body, await proofOfWork(form.dataset.challengeUrl));
  body.append('message_id', pc.toHex(messageId));
  const sealed = await pc.sealRecord(dek, reportId, 'message', pc.utf8(JSON.stringify({ v: 1, text })), messageId);
  await pc.openRecord(dek, reportId, 'message', sealed, messageId); // the server cannot check it: check here
  body.append('sealed_message', pc.toBase64(sealed));
  for (const file of files) {
    const attachmentId = pc.randomBytes(pc.ID_LEN);
    const idHex = pc.toHex(attachmentId);
    const meta = pc.utf8(JSON.stringify({ name: file.name, type: file.type, size: file.size }));
    body.append(`attachment_meta.${idHex}`, pc.toBase64(await pc.sealRecord(dek, reportId, 'attachment-meta', meta, attachmentId)));
    body.append(`attachment.${idHex}`, await pc.encryptStream(dek, reportId, attachmentId, file), 'encrypted.bin');
  }
  return body;
}

function showSignedOut(form, result) {
  const message = (result.errors && result.errors[0] && result.errors[0].message) || t('You were signed out. Nothing was sent.');
  showErrors(form, [{ field: 'message', message }]);
  const errorText = document.getElementById('message-error');
  if (errorText && typeof result.sign_in === 'string' && result.sign_in.startsWith('/')) {
    const link = document.createElement('a');
    link.className = 'govuk-link';
    link.href = result.sign_in;
    link.target = '_blank';
    link.rel = 'noopener';
    link.id = 'sign-in-again';
    link.textContent = t('Sign in again in a new tab');
    errorText.append(' ', link);
  }
}

/** Seal every reply posted from `form` under `dek` (the case key, opened on this device). */
export function enableSealedReply(form, reportId, dek) {
  const showError = (message) => showErrors(form, [{ field: '', message }]);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = form.elements.namedItem('message').value.trim();
    const files = Array.from(form.elements.namedItem('evidence').files || []);
    if (!text && !files.length) {
      showError(t('Write a message or attach a file.'));
      return;
    }
    const limit = Number(form.dataset.fileLimit || 0);
    const tooBig = files.find((f) => limit && pc.streamCiphertextSize(f.size) > limit);
    if (tooBig) {
      showError(t('%(name)s is too large. Attach a smaller copy, or split it into parts.', { name: tooBig.name }));
      return;
    }
    if (files.length > Number(form.dataset.files || 20)) {
      showError(t('You can attach up to %(count)s files at a time.', { count: form.dataset.files }));
      return;
    }
    const button = form.querySelector('[type="submit"]');
    button.setAttribute('disabled', '');
    try {
      const send = async () => {
        const response = await fetch(form.action, {
          method: 'POST', body: await seal(form, reportId, dek, text, files), headers: { Accept: 'application/json' }, credentials: 'same-origin',
        });
        return { response, result: await response.json().catch(() => null) };
      };
      let { response, result } = await send();
      if (result && result.retry === 'work') {
        if (result.csrf_token) form.elements.namedItem('csrf_token').value = result.csrf_token;
        ({ response, result } = await send()); // the check ran out of time: once more
      }
      if (response.ok && result && result.ok) {
        window.location.assign(result.next || '/follow-up/case?sent=1#conversation');
        return;
      }
      if (result && result.csrf_token) form.elements.namedItem('csrf_token').value = result.csrf_token;
      if (result && result.expired) {
        // The session ended while the reply was written: say so, keep the text in the box, and offer a
        // sign-in in a new tab (this page keeps the case key, so Send works again once signed in there).
        showSignedOut(form, result);
        return;
      }
      showError((result && result.errors && result.errors[0] && result.errors[0].message) || t('Your message was not sent. Try again in a few minutes; nothing you wrote has been lost.'));
    } catch {
      showError(t('Your message could not be sent because of a connection problem. Nothing you wrote has been lost.'));
    } finally {
      button.removeAttribute('disabled');
    }
  });
}
