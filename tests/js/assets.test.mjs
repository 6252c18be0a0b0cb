// The assets under static/: one copy of our scripts, CSP-clean, no
// restricted GOV.UK branding, nothing fetched from elsewhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (p) => readFileSync(root + p, 'utf8');

test('static/js holds the one copy of our scripts; the word list matches the server\'s', () => {
  const scripts = readdirSync(root + 'static/js').filter((f) => f.endsWith('.js'));
  assert.ok(scripts.includes('portal-crypto.js') && scripts.includes('report-form.js') && scripts.includes('receipt.js'));
  assert.ok(!existsSync(root + 'assets/js'), 'assets/js must not come back: static/js is the source of our scripts');
  assert.equal(read('static/js/wordlist.txt'), read('portal/crypto/wordlist.txt'));
});

test('our scripts respect the CSP and the no-logging rule', () => {
  for (const f of readdirSync(root + 'static/js').filter((n) => n.endsWith('.js'))) {
    const src = read(`static/js/${f}`).replace(/^\s*\/\/.*$/gm, ''); // comments may mention what is banned
    assert.doesNotMatch(src, /\beval\s*\(|new\s+Function\b|\bsetTimeout\s*\(\s*['"`]/, `${f}: no string evaluation`);
    assert.doesNotMatch(src, /\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write/, `${f}: no HTML from strings`);
    assert.doesNotMatch(src, /setAttribute\(\s*['"]style['"]|\.style\s*=|\bon[a-z]+\s*=\s*['"]/, `${f}: no inline styles or handlers`);
    assert.doesNotMatch(src, /\bconsole\s*\./, `${f}: never log (content could leak)`);
    assert.doesNotMatch(src, /https?:\/\//, `${f}: no absolute URLs (no CDN)`);
  }
});

test('vendored scripts: pinned versions, licences, nothing evaluated from strings', () => {
  const pkg = JSON.parse(read('assets/package.json'));
  const lock = JSON.parse(read('assets/package-lock.json'));
  const deps = { ...pkg.dependencies, ...pkg.devDependencies };
  assert.equal(deps['govuk-frontend'], '6.6.0');
  assert.equal(deps['hash-wasm'], '4.13.0');
  assert.ok(deps.sass, 'sass (dart-sass) compiles the styles');
  for (const [name, version] of Object.entries(deps)) {
    assert.match(version, /^\d+\.\d+\.\d+$/, `${name} is pinned exactly`);
    assert.equal(lock.packages[`node_modules/${name}`].version, version, `${name} locked at ${version}`);
  }
  const argon2 = read('static/vendor/hash-wasm/argon2.js');
  assert.match(argon2, /export const argon2id\b/);
  assert.doesNotMatch(argon2, /\beval\s*\(|new Function\b/);
  const govuk = read('static/vendor/govuk-frontend/govuk-frontend.min.js');
  assert.doesNotMatch(govuk, /\beval\s*\(|new Function\b|sourceMappingURL/);
  for (const lic of ['static/vendor/hash-wasm/LICENSE', 'static/vendor/govuk-frontend/LICENSE']) {
    assert.match(read(lic), /MIT License/i, lic);
  }
});

test('hash-wasm argon2 module does not leak a global', async () => {
  const before = 'hashwasm' in globalThis;
  const { argon2id } = await import('../../static/vendor/hash-wasm/argon2.js');
  assert.equal(typeof argon2id, 'function');
  assert.equal('hashwasm' in globalThis, before);
});

test('portal.css: compiled, system fonts, no GOV.UK font, crown or crest, local URLs only', () => {
  assert.ok(existsSync(root + 'static/css/portal.css'));
  const css = read('static/css/portal.css');
  assert.ok(css.length > 20000, 'GOV.UK Frontend styles are included');
  assert.ok(!css.includes('\n\n'), 'compressed');
  assert.doesNotMatch(css, /GDS Transport|@font-face|govuk-crest|crown\.(svg|png)|\.woff/i);
  assert.match(css, /font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif/);
  for (const [, url] of css.matchAll(/url\(([^)]*)\)/g)) assert.match(url, /^["']?\/static\//, url);
  for (const cls of ['.portal-header', '.portal-receipt__code', '.portal-safety', '.js-only', '.js-enabled .js-only', '@media print']) {
    assert.ok(css.includes(cls), cls);
  }
});
