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

export function clearErrors(form) {
  document.querySelectorAll('[data-js-error]').forEach((el) => el.remove());
  const prefix = t('Error:') + ' ';
  if (document.title.startsWith(prefix)) document.title = document.title.slice(prefix.length);
  form.querySelectorAll('.govuk-form-group--error[data-js-error-group]').forEach((el) => {
    el.classList.remove('govuk-form-group--error');
    el.removeAttribute('data-js-error-group');
  });
}

function markField(el, message) {
  const group = el.closest('.govuk-form-group');
  if (!group || group.querySelector('[data-js-error]')) return;
  group.classList.add('govuk-form-group--error');
  group.setAttribute('data-js-error-group', '');
  const p = document.createElement('p');
  p.className = 'govuk-error-message';
  p.setAttribute('data-js-error', '');
  const hidden = document.createElement('span');
  hidden.className = 'govuk-visually-hidden';
  hidden.textContent = t('Error:') + ' ';
  p.append(hidden, message);
  const anchor = el.closest('.govuk-radios, .govuk-checkboxes') || el;
  anchor.before(p);
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
  form.before(summary);
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
