// Where the reporter root waits between the sign-in page and the case page: this tab's
// sessionStorage (never a cookie, never sent anywhere; the browser drops it when the tab
// closes, and case.js drops it at sign-out). It opens the reporter's wrap of the case key
// (receipt format v2, docs/crypto.md); the server never has it.

const KEY = 'portal.reporterRoot';

export function keepRoot(hex) {
  sessionStorage.setItem(KEY, hex);
}

export function takeRoot() {
  const hex = sessionStorage.getItem(KEY);
  return hex && /^[0-9a-f]{64}$/.test(hex) ? hex : null;
}

export function forgetRoot() {
  sessionStorage.removeItem(KEY);
}
