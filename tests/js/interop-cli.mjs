// Helper for tests/js/test_js_interop.py: seals with the shipped browser code
// (static/js/portal-crypto.js) so Python can open the result.
// Usage: node tests/js/interop-cli.mjs '<json request>'  -> JSON on stdout.
import * as pc from '../../static/js/portal-crypto.js';
import { readFile } from 'node:fs/promises';

const req = JSON.parse(process.argv[2]);
const h = pc.fromHex;
const words = pc.parseWordlist(await readFile(new URL('../../static/js/wordlist.txt', import.meta.url), 'utf8'));

const out = {};
out.sealed_record = pc.toBase64(
  await pc.sealRecord(h(req.dek), h(req.report_id), req.purpose, h(req.plaintext), h(req.record_id)),
);
const stream = await pc.encryptStream(h(req.dek), h(req.report_id), h(req.attachment_id), new Blob([h(req.file)]), req.chunk_log2);
out.stream = pc.toBase64(new Uint8Array(await stream.arrayBuffer()));
out.inner = pc.toBase64(await pc.innerWrap(h(req.dek), h(req.intake_public), h(req.report_id)));
if (req.screening_public) {
  out.subjects_inner = pc.toBase64(await pc.sealSubjectsInner(pc.utf8(req.subjects), h(req.screening_public), h(req.report_id)));
}

const code = req.code ?? pc.generateReceiptCode(words);
out.code = code;
out.normalised = req.messy_codes.map((raw) => {
  try {
    return pc.normaliseReceiptCode(raw, words);
  } catch {
    return null;
  }
});
const secret = await pc.receiptSecret(code, h(req.install_salt), req.argon2, words);
out.receipt_secret = pc.toHex(secret);
const reporterPublic = await pc.reporterPublicKey(secret);
out.reporter_public = pc.toHex(reporterPublic);
out.reporter_inner = pc.toBase64(await pc.innerWrap(h(req.dek), reporterPublic, h(req.report_id)));
// Receipt format v2: what report-form.js and sign-in.js send, and the wrap they make.
out.lookup_token = pc.toHex(await pc.lookupToken(secret));
out.reporter_root = pc.toHex(await pc.reporterRoot(secret));
out.reporter_wrap_v2 = pc.toBase64(await pc.wrapForReporterRoot(h(req.dek), await pc.reporterRoot(secret), h(req.report_id)));
process.stdout.write(JSON.stringify(out));
