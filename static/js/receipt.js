// Receipt code page: "Copy code" and "Print" buttons.
//
// Used on the server-rendered confirmation page and on the receipt the report
// form shows after a JavaScript submission. Listeners are delegated from the
// document, so buttons inserted later work too; there are no inline handlers (CSP).
//
//   <button type="button" class="govuk-button js-only" data-action="copy-receipt">Copy code</button>
//   <button type="button" class="govuk-button govuk-button--secondary js-only" data-action="print">Print</button>
//   <p class="portal-receipt__code" data-receipt-code>…</p>
//   <p class="portal-copy-status" role="status" aria-live="polite"></p>   (optional; or [data-receipt-status])
//   <a href="/report/done" data-leave-receipt>Yes, I have written it down</a>   (ends the leave prompt)

import { t } from './i18n.js';

document.body.classList.add('js-enabled');

// "Have you written down your code?": the browser asks before the receipt is left (a reload, a
// link, closing the tab), until the reporter presses "Yes, I have written it down".
function askBeforeLeaving(event) {
  event.preventDefault();
  event.returnValue = t('Have you written down your code?'); // older browsers need a value; most show their own words
  return event.returnValue;
}

export function guardReceipt() {
  window.addEventListener('beforeunload', askBeforeLeaving);
}

document.addEventListener('click', (event) => {
  if (event.target.closest('[data-leave-receipt]')) window.removeEventListener('beforeunload', askBeforeLeaving);
});

if (document.querySelector('main [data-receipt-code]')?.textContent.trim()) guardReceipt();

function receiptScope(button) {
  return button.closest('[data-receipt]') || button.closest('main') || document;
}

function say(scope, button, message) {
  let status = scope.querySelector('[data-receipt-status], .portal-copy-status');
  if (!status) {
    // An aria-live region so the result is announced; created once.
    status = document.createElement('p');
    status.className = 'portal-receipt__status';
    status.setAttribute('role', 'status');
    status.setAttribute('data-receipt-status', '');
    (button.closest('.portal-receipt__actions, .govuk-button-group') || button).after(status);
  }
  status.textContent = message;
}

function selectText(element) {
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

async function copyReceipt(button) {
  const scope = receiptScope(button);
  const codeElement = scope.querySelector('[data-receipt-code]');
  if (!codeElement) return;
  const code = codeElement.textContent.trim().replace(/\s+/g, ' ');
  try {
    await navigator.clipboard.writeText(code);
    say(scope, button, t('Code copied. Paste it somewhere only you can see.'));
    return;
  } catch {
    // No async clipboard (older browser, or not a secure context): fall back below.
  }
  selectText(codeElement);
  let copied = false;
  try {
    copied = document.execCommand('copy');
  } catch {
    copied = false;
  }
  say(
    scope,
    button,
    copied ? t('Code copied. Paste it somewhere only you can see.') : t('The code is selected: press Ctrl and C (or Command and C) to copy it.'),
  );
}

document.addEventListener('click', (event) => {
  const button = event.target.closest('[data-action]');
  if (!button) return;
  if (button.dataset.action === 'copy-receipt') {
    event.preventDefault();
    copyReceipt(button);
  } else if (button.dataset.action === 'print') {
    event.preventDefault();
    window.print();
  }
});
