"""Benchmark the portal's cryptography on this machine and print one table.

    .venv/bin/python bench/crypto_bench.py                 # 1 GiB file, the reference figures
    .venv/bin/python bench/crypto_bench.py --size-mib 256  # quicker

(a) attachment stream encryption and decryption, file to file in a temporary
    directory (median of 3 runs; decryption is `decrypt_stream`, which
    authenticates the whole file before writing plaintext, so it reads twice;
    the single-pass `iter_decrypt_unverified` figure is printed as well);
(b) `openssl speed -evp aes-256-gcm -bytes 16384 -seconds 3` run now on the
    same machine (one core) and our encryption throughput as a ratio of it;
(c) peak RSS growth while encrypting, measured in a fresh subprocess so the
    baseline is clean (constant memory: it must not grow with the file size);
(d) seconds per Argon2id derivation with the receipt parameters (median of 5);
(e) HPKE DEK wrap and unwrap (nested X25519 + MLKEM768_X25519), and the
    reporter wrap, per operation.

MB/s here means 10^6 bytes per second (openssl's unit as well).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal.crypto import kdf, keys, stream  # noqa: E402

MB = 1_000_000
MIB = 1 << 20
REPORT_ID = bytes(range(16))
ATTACHMENT_ID = bytes(range(16, 32))
DEK = bytes(range(32, 64))


def make_plaintext(path: Path, size: int) -> None:
    block = os.urandom(16 * MIB)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_stream(tmp: Path, size: int, runs: int) -> dict:
    src, enc, dec = tmp / "plain", tmp / "cipher", tmp / "decrypted"
    make_plaintext(src, size)

    def encrypt() -> None:
        with open(src, "rb") as i, open(enc, "wb") as o:
            stream.encrypt_stream(DEK, REPORT_ID, ATTACHMENT_ID, i, o)

    def decrypt() -> None:
        with open(enc, "rb") as i, open(dec, "wb") as o:
            stream.decrypt_stream(DEK, REPORT_ID, ATTACHMENT_ID, i, o)

    def decrypt_single_pass() -> None:
        with open(enc, "rb") as i, open(dec, "wb") as o:
            for chunk in stream.iter_decrypt_unverified(DEK, REPORT_ID, ATTACHMENT_ID, i):
                o.write(chunk)

    def copy() -> None:  # the I/O floor: the same file copied with the same buffer size
        with open(src, "rb") as i, open(dec, "wb") as o:
            shutil.copyfileobj(i, o, 1 << stream.DEFAULT_CHUNK_LOG2)

    class NullSink:
        def write(self, b) -> int:
            return len(b)

    def encrypt_to_null() -> None:  # the same, without the write path: what the cryptography costs
        with open(src, "rb") as i:
            stream.encrypt_stream(DEK, REPORT_ID, ATTACHMENT_ID, i, NullSink())

    results = {}
    jobs = (
        ("encrypt", encrypt),
        ("decrypt", decrypt),
        ("decrypt_single_pass", decrypt_single_pass),
        ("copy", copy),
        ("encrypt_to_null", encrypt_to_null),
    )
    for name, fn in jobs:
        times = [timed(fn) for _ in range(runs)]
        results[name] = size / statistics.median(times) / MB
    assert os.path.getsize(enc) == stream.ciphertext_size(size)
    decrypt()
    assert _same_file(src, dec), "decrypted file differs from the original"
    return results


def _same_file(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(MIB), fb.read(MIB)
            if x != y:
                return False
            if not x:
                return True


def openssl_speed(seconds: int = 3) -> float | None:
    """Bytes/s for 16 KiB blocks of AES-256-GCM, single process, or None if openssl is missing."""
    exe = shutil.which("openssl")
    if exe is None:
        return None
    proc = subprocess.run(
        [exe, "speed", "-evp", "aes-256-gcm", "-bytes", "16384", "-seconds", str(seconds)],
        capture_output=True,
        text=True,
        check=False,
    )
    # last table line, e.g. "AES-256-GCM    4321987.65k" (thousands of bytes per second)
    for line in reversed(proc.stdout.splitlines()):
        m = re.match(r"(?i)^aes-256-gcm\s+([\d.]+)k\s*$", line.strip())
        if m:
            return float(m.group(1)) * 1000
    return None


def _vm_hwm_kib() -> int | None:
    """Peak RSS of this process's own address space (Linux /proc), reset at exec."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_child(src: str, dst: str) -> None:
    """Run in a fresh interpreter: print peak RSS (KiB) before and after encrypting src to dst.

    ru_maxrss is inherited from the parent across fork+exec on Linux, so it only
    shows growth beyond the *parent's* peak; VmHWM belongs to this process alone
    and is the clean baseline. Both are printed.
    """
    with open(src, "rb") as i, open(dst, "wb") as o:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        hwm_before = _vm_hwm_kib()
        stream.encrypt_stream(DEK, REPORT_ID, ATTACHMENT_ID, i, o)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        hwm_after = _vm_hwm_kib()
    print(before, after, hwm_before if hwm_before is not None else -1, hwm_after if hwm_after is not None else -1)


def bench_rss(tmp: Path) -> tuple[int, int, int, int]:
    out = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(tmp / "plain"), str(tmp / "cipher-rss")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    a, b, c, d = (int(x) for x in out)
    return a, b, c, d


def bench_argon2(runs: int = 5) -> float:
    params = kdf.RECEIPT_ARGON2
    salt = os.urandom(16)
    times = [timed(lambda: kdf.argon2id(b"portal/v1/receipt-code:bench", salt, params)) for _ in range(runs)]
    return statistics.median(times)


def bench_hpke(n: int = 200) -> dict:
    private = keys.RecipientPrivateKey.generate()
    public = private.public_key()
    secret = os.urandom(32)
    dek = os.urandom(32)
    wrap = keys.wrap_dek(dek, public, REPORT_ID)
    rwrap = keys.wrap_dek_for_reporter(dek, secret, REPORT_ID)

    def per_op(fn) -> float:
        samples = []
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(n // 5):
                fn()
            samples.append((time.perf_counter() - t) / (n // 5))
        return statistics.median(samples)

    return {
        "wrap_dek (X25519 inner + MLKEM768_X25519 outer)": per_op(lambda: keys.wrap_dek(dek, public, REPORT_ID)),
        "unwrap_dek": per_op(lambda: keys.unwrap_dek(wrap, private, REPORT_ID)),
        "wrap_dek_for_reporter": per_op(lambda: keys.wrap_dek_for_reporter(dek, secret, REPORT_ID)),
        "unwrap_dek_for_reporter": per_op(lambda: keys.unwrap_dek_for_reporter(rwrap, secret, REPORT_ID)),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mib", type=int, default=1024, help="attachment size for (a) and (c), MiB (default 1024)")
    ap.add_argument("--runs", type=int, default=3, help="runs per stream figure; the median is printed (default 3)")
    ap.add_argument("--openssl-seconds", type=int, default=3)
    ap.add_argument("--tmpdir", default=None, help="where to put the temporary files (default: the system temp dir)")
    ap.add_argument("--rss-child", nargs=2, metavar=("SRC", "DST"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(*args.rss_child)
        return 0

    size = args.size_mib * MIB
    rows: list[tuple[str, str]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="portal-bench-", dir=args.tmpdir) as d:
        tmp = Path(d)
        s = bench_stream(tmp, size, args.runs)
        rss_before, rss_after, hwm_before, hwm_after = bench_rss(tmp)
    ossl = openssl_speed(args.openssl_seconds)
    argon = bench_argon2()
    hpke_times = bench_hpke()

    chunk = 1 << stream.DEFAULT_CHUNK_LOG2
    rows.append((f"(a) stream encrypt, {args.size_mib} MiB file->file, {chunk // 1024} KiB chunks", f"{s['encrypt']:9.0f} MB/s"))
    rows.append(("(a) stream decrypt (decrypt_stream: verify pass + write pass)", f"{s['decrypt']:9.0f} MB/s"))
    rows.append(("    stream decrypt, single pass (iter_decrypt_unverified)", f"{s['decrypt_single_pass']:9.0f} MB/s"))
    rows.append(("    plain file copy, same size and buffer (I/O floor)", f"{s['copy']:9.0f} MB/s"))
    rows.append(("    stream encrypt, file->null sink (no write path)", f"{s['encrypt_to_null']:9.0f} MB/s"))
    if ossl:
        rows.append(("(b) openssl speed -evp aes-256-gcm -bytes 16384 (1 core)", f"{ossl / MB:9.0f} MB/s"))
        rows.append(("(b) our encryption / openssl", f"{s['encrypt'] / (ossl / MB):9.2f} x"))
        rows.append(("    our single-pass decryption / openssl", f"{s['decrypt_single_pass'] / (ossl / MB):9.2f} x"))
        rows.append(("    our encryption without the write path / openssl", f"{s['encrypt_to_null'] / (ossl / MB):9.2f} x"))
    else:
        rows.append(("(b) openssl speed", "unavailable"))
    if hwm_before >= 0:
        rows.append(("(c) peak RSS (VmHWM) before encryption, fresh process", f"{hwm_before / 1024:9.1f} MiB"))
        rows.append(
            (f"(c) peak RSS (VmHWM) growth while encrypting {args.size_mib} MiB", f"{(hwm_after - hwm_before) / 1024:9.2f} MiB")
        )
    rows.append(("    ru_maxrss before (inherits the parent's peak on Linux)", f"{rss_before / 1024:9.1f} MiB"))
    rows.append(("    ru_maxrss growth while encrypting", f"{(rss_after - rss_before) / 1024:9.2f} MiB"))
    p = kdf.RECEIPT_ARGON2
    rows.append((f"(d) Argon2id t={p.time_cost} m={p.memory_kib // 1024} MiB p={p.parallelism}, median of 5", f"{argon:9.3f} s"))
    for name, sec in hpke_times.items():
        rows.append((f"(e) {name}", f"{sec * 1000:9.3f} ms"))

    width = max(len(r[0]) for r in rows)
    print(
        f"portal crypto benchmark  (python {sys.version.split()[0]}, {os.cpu_count()} cpus, {time.perf_counter() - started:.0f} s)"
    )
    print("-" * (width + 17))
    for name, value in rows:
        print(f"{name:<{width}}  {value:>14}")
    print("-" * (width + 17))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
