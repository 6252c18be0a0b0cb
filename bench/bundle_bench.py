"""Case bundle throughput: build and open a referral bundle holding one file.

    .venv/bin/python bench/bundle_bench.py                  # 10 MiB file, median of 7 runs
    .venv/bin/python bench/bundle_bench.py --size-mib 100 --runs 3

build:  build_referral_bundle (in memory) with the file as a stream, as the lead's request makes it;
open:   open_bundle_file to a new directory, as `portal referral open` does (it authenticates the
        whole bundle, then decrypts again while writing and checking every manifest hash);
both include the one HPKE wrap / unwrap (ML-KEM-768 + X25519) of the bundle key.
Also the peak RSS growth, in a fresh subprocess, of streaming a file of at least 64 MiB from disk
into a bundle file and opening it (memory is bounded by the chunk size, not the file size). MB/s means 10^6 bytes per second of file content.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal.crypto.keys import RecipientPrivateKey  # noqa: E402
from portal.referrals.bodies import BodyKey  # noqa: E402
from portal.referrals.bundles import BundleFile, build_referral_bundle  # noqa: E402
from portal.referrals.opening import open_bundle_file  # noqa: E402
from portal.reports.answers import ReportAnswers  # noqa: E402

MB = 1_000_000


def one_round(private: RecipientPrivateKey, content: bytes, work: Path) -> tuple[float, float]:
    public = private.public_key()
    body = BodyKey("iopc", public.fingerprint, public.to_bytes())
    started = time.perf_counter()
    bundle = build_referral_bundle(body, reference="RPT-BENCH", received_on=dt.date(2026, 1, 1),
                                   answers=ReportAnswers(what_happened="benchmark"),
                                   files=[BundleFile("evidence.bin", "application/octet-stream", io.BytesIO(content))])
    built = time.perf_counter() - started
    path = work / "case.bundle"
    path.write_bytes(bundle.data)
    started = time.perf_counter()
    open_bundle_file(path, private, work / "opened")
    opened = time.perf_counter() - started
    shutil.rmtree(work / "opened")
    return built, opened


_STREAMED = """
import datetime as dt, resource, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from portal.crypto.keys import RecipientPrivateKey
from portal.referrals.bodies import BodyKey
from portal.referrals.bundles import BundleFile, write_referral_bundle
from portal.referrals.opening import open_bundle_file
from portal.reports.answers import ReportAnswers
work = Path({work!r})
private = RecipientPrivateKey.generate()
public = private.public_key()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with (work / "evidence.bin").open("rb") as src, (work / "case.bundle").open("wb") as sink:
    write_referral_bundle(sink, BodyKey("iopc", public.fingerprint, public.to_bytes()), reference="RPT-BENCH",
                          received_on=dt.date(2026, 1, 1), answers=ReportAnswers(what_happened="benchmark"),
                          files=[BundleFile("evidence.bin", "application/octet-stream", src)])
open_bundle_file(work / "case.bundle", private, work / "opened")
print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss(size: int) -> tuple[int, int]:
    """Peak RSS (bytes) after the imports, and after writing a bundle to a file from a file on disk and opening it."""
    with tempfile.TemporaryDirectory() as directory:
        with open(Path(directory) / "evidence.bin", "wb") as out:
            for _ in range(size >> 20):
                out.write(os.urandom(1 << 20))
        code = _STREAMED.format(root=str(ROOT), work=directory)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    before, after = (int(v) * 1024 for v in out.stdout.split())
    return before, after


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=10)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    size = args.size_mib << 20
    content = os.urandom(size)
    private = RecipientPrivateKey.generate()
    builds, opens = [], []
    with tempfile.TemporaryDirectory() as directory:
        for _ in range(args.runs):
            built, opened = one_round(private, content, Path(directory))
            builds.append(built)
            opens.append(opened)
    build_s, open_s = statistics.median(builds), statistics.median(opens)
    print(f"file: {args.size_mib} MiB, {args.runs} runs, medians")
    print(f"build  {build_s * 1000:8.1f} ms   {size / build_s / MB:8.1f} MB/s")
    print(f"open   {open_s * 1000:8.1f} ms   {size / open_s / MB:8.1f} MB/s   (verify, then write and re-check)")
    streamed = max(size, 64 << 20)
    before, after = peak_rss(streamed)
    print(f"peak RSS, {streamed >> 20} MiB file streamed from disk into a bundle file and opened to a directory "
          f"(write_referral_bundle, portal referral open): {before / MB:.1f} MB after imports, {after / MB:.1f} MB after")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
