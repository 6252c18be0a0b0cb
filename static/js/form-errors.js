// GOV.UK error summary above a form, and a message beside each field named.
//
// Shared by the report form and the follow-up sign-in. Built with DOM calls,
// never innerHTML: messages may quote a file's name or what the reporter typed.

import { t } from './i18n.js';

function fieldElement(form, name) {
  if (!name) return null;
  const el = form.elements.namedItem(name);
  return el instanceof RadioNodeList ? el[0] : el;
}

const ERROR_CLASSES = {
  'govuk-input': 'govuk-input--error',
  'govuk-textarea': 'govuk-textarea--error',
  'govuk-select': 'govuk-select--error',
  'govuk-file-upload': 'govuk-file-upload--error',
};

export function clearErrors(form) {
  document.querySelectorAll('[data-js-error]').forEach((el) => el.remove());
  const prefix = t('Error:') + ' ';
  if (document.title.startsWith(prefix)) document.title = document.title.slice(prefix.length);
  form.querySelectorAll('.govuk-form-group--error[data-js-error-group]').forEach((el) => {
    el.classList.remove('govuk-form-group--error');
    el.removeAttribute('data-js-error-group');
  });
  form.querySelectorAll('[data-js-described]').forEach((el) => {
    const before = el.getAttribute('data-js-described');
    if (before) el.setAttribute('aria-describedby', before);
    else el.removeAttribute('aria-describedby');
    el.removeAttribute('data-js-described');
    Object.values(ERROR_CLASSES).forEach((c) => el.classList.remove(c));
  });
}

// GOV.UK style: the message has an id, the field (or the radios' fieldset) names it in
// aria-describedby, and the field and its group carry the error classes.
function markField(el, message) {
  const group = el.closest('.govuk-form-group');
  if (!group || group.querySelector('[data-js-error]')) return;
  group.classList.add('govuk-form-group--error');
  group.setAttribute('data-js-error-group', '');
  const p = document.createElement('p');
  p.className = 'govuk-error-message';
  p.id = `${el.id}-error`;
  p.setAttribute('data-js-error', '');
  const hidden = document.createElement('span');
  hidden.className = 'govuk-visually-hidden';
  hidden.textContent = t('Error:') + ' ';
  p.append(hidden, message);
  const choices = el.closest('.govuk-radios, .govuk-checkboxes');
  (choices || el).before(p);
  const described = (choices && el.closest('fieldset')) || el;
  if (!described.hasAttribute('data-js-described')) {
    described.setAttribute('data-js-described', described.getAttribute('aria-describedby') || '');
  }
  const ids = (described.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
  if (!ids.includes(p.id)) described.setAttribute('aria-describedby', [...ids, p.id].join(' '));
  for (const [base, error] of Object.entries(ERROR_CLASSES)) {
    if (el.classList.contains(base)) el.classList.add(error);
  }
}

/** errors: [{ field, message }]; a field of '' is a message for the whole form. */
export function showErrors(form, errors) {
  clearErrors(form);
  const previous = document.querySelector('.govuk-error-summary');
  if (previous) previous.remove();

  const summary = document.createElement('div');
  summary.className = 'govuk-error-summary';
  summary.setAttribute('data-js-error', '');
  summary.setAttribute('tabindex', '-1');
  const alert = document.createElement('div');
  alert.setAttribute('role', 'alert');
  const title = document.createElement('h2');
  title.className = 'govuk-error-summary__title';
  title.textContent = t('There is a problem');
  const body = document.createElement('div');
  body.className = 'govuk-error-summary__body';
  const list = document.createElement('ul');
  list.className = 'govuk-list govuk-error-summary__list';

  for (const { field, message } of errors) {
    const item = document.createElement('li');
    const el = fieldElement(form, field);
    if (el && el.id) {
      const link = document.createElement('a');
      link.href = `#${el.id}`;
      link.textContent = message;
      link.addEventListener('click', (event) => {
        event.preventDefault();
        el.focus();
      });
      item.append(link);
      markField(el, message);
    } else {
      item.textContent = message;
    }
    list.append(item);
  }
  body.append(list);
  alert.append(title, body);
  summary.append(alert);
  // At the top of the page's main column, where GOV.UK puts it, not beside the form.
  const slot = form.closest('[data-error-summary-slot], .govuk-grid-column-two-thirds') || form.parentElement;
  slot.prepend(summary);
  const prefix = t('Error:') + ' ';
  if (!document.title.startsWith(prefix)) document.title = `${prefix}${document.title}`;
  summary.focus();
}

/** Put the fresh single-use form token from a JSON answer back into the form. */
export function renewToken(form, result) {
  if (result && typeof result.csrf_token === 'string') {
    const token = form.elements.namedItem('csrf_token');
    if (token) token.value = result.csrf_token;
  }
}

/** The server's errors from a JSON answer, or null. */
export function serverErrors(result) {
  if (!result || !Array.isArray(result.errors) || !result.errors.length) return null;
  return result.errors.map((e) => ({ field: String(e.field || ''), message: String(e.message || '') }));
}
