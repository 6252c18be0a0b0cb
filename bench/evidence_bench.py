"""Evidence sanitiser figures (issue #14): the hostile corpus through make_safe_copy, and
pages per second for an ordinary 20-page PDF.

For each file: median wall time over --runs runs, the sandboxed child's peak RSS (its own
VmHWM: wait4/RUSAGE_CHILDREN would report the forked parent's image), and the outcome.
Target: every hostile file refused or converted in under 10 s and under 512 MiB.

    .venv/bin/python bench/evidence_bench.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "security"))

import test_evidence_corpus as corpus  # noqa: E402 - the corpus lives with the tests that use it

from portal.evidence import Converted, make_safe_copy  # noqa: E402

TARGET_SECONDS, TARGET_KIB = 10.0, 512 * 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"Machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; medians of {args.runs} runs")
    files = corpus.hostile_corpus()
    files["ordinary 20-page PDF"] = corpus.text_pdf(20)
    ok = True
    print(f"{'file':40} {'size':>10} {'time s':>8} {'peak MiB':>9}  outcome")
    for name, data in files.items():
        results = [make_safe_copy(data) for _ in range(args.runs)]
        seconds = statistics.median(r.seconds for r in results)
        peak = statistics.median(r.peak_rss_kib for r in results)
        last = results[-1]
        outcome = f"converted, {last.pages} pages, removed: {last.removed}" if isinstance(last, Converted) else \
            f"refused: {last.reason}"
        within = seconds < TARGET_SECONDS and peak < TARGET_KIB
        ok &= within or name.startswith("ordinary")
        print(f"{name:40} {len(data):>10,} {seconds:>8.2f} {peak / 1024:>9.0f}  {'' if within else 'OVER TARGET '}{outcome}")
        if name.startswith("ordinary") and isinstance(last, Converted):
            print(f"{'':40} {'':>10} pages/second: {last.pages / seconds:.1f} (including ~0.5 s child start-up); "
                  f"copy {len(last.data):,} bytes")
    print("all hostile files within target" if ok else "SOME HOSTILE FILES OVER TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
