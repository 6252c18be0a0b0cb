// Translations for the scripts. The page's <html lang> (set by the server from ?lang=) picks
// static/i18n/<lang>.json, which `make i18n-compile` writes from the same catalog as the pages:
// a static file from our own origin, so no inline script is needed under the CSP. English, an
// unknown language, or a file that does not arrive all leave the English message.
// Messages use the catalog's placeholders: t('Up to %(count)s files', { count: 3 }).

const TRANSLATED = ['cy'];

async function load() {
  const lang = typeof document === 'undefined' ? '' : document.documentElement.lang;
  if (!TRANSLATED.includes(lang)) return {};
  try {
    const response = await fetch(new URL(`../i18n/${lang}.json`, import.meta.url), { credentials: 'same-origin' });
    return response.ok ? await response.json() : {};
  } catch {
    return {};
  }
}

const messages = await load();

export function t(message, values) {
  const text = Object.hasOwn(messages, message) && typeof messages[message] === 'string' ? messages[message] : message;
  if (!values) return text;
  return text.replace(/%\((\w+)\)s/g, (whole, name) => (Object.hasOwn(values, name) ? String(values[name]) : whole));
}

// Numbers in the reader's language's digit grouping ("10,000" in both English and Welsh).
export function number(n) {
  return n.toLocaleString(typeof document === 'undefined' ? 'en-GB' : `${document.documentElement.lang || 'en'}-GB`);
}
