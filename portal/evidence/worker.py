"""The sandboxed child: confine itself, read the original from stdin, answer on stdout.

Run only by sandbox.py. The converters (and the libraries they load: PDFium, Pillow,
qpdf) are imported after `confine`, so they never run outside the limits and the
unshare happens while the process still has a single thread.
"""

from __future__ import annotations

import sys
import traceback

from portal.evidence import framing, sniff
from portal.evidence.confine import confine
from portal.evidence.limits import Limits, peak_kib
from portal.evidence.results import Unsafe

MEMORY = "The file needs more memory than allowed to convert (it may be built to exhaust the server), so no safe copy was made."


def main(kind: str, limits: Limits, convert) -> int:
    data = sys.stdin.buffer.read(limits.input_bytes + 1)
    try:
        if len(data) > limits.input_bytes:
            raise Unsafe("The file is too large to convert safely; only the original is available.")
        if sniff.family(data) != kind:
            raise Unsafe("The file's content does not match its detected type.")
        body, content_type, removed, pages = convert(kind, data, limits)
        if len(body) > limits.output_bytes:
            raise Unsafe("The safe copy would be too large, so it was not made.")
        header = {"status": "converted", "content_type": content_type, "removed": removed, "pages": pages}
    except Unsafe as refusal:
        header, body = {"status": "refused", "reason": str(refusal)}, b""
    except MemoryError:
        header, body = {"status": "refused", "reason": MEMORY}, b""
    except Exception:  # a damaged or hostile file: the reviewer gets a sentence, the log the trace
        traceback.print_exc(limit=5)
        header, body = {"status": "refused", "reason": "The file could not be read, so no safe copy was made."}, b""
    sys.stdout.buffer.write(framing.encode({**header, "peak_kib": peak_kib()}, body))
    sys.stdout.buffer.flush()
    return 0




if __name__ == "__main__":
    _limits = Limits.from_json(sys.argv[2])
    _held = confine(_limits)
    print("confined:", ", ".join(_held), file=sys.stderr)
    from portal.evidence.convert import convert  # noqa: E402 - loaded only once confined

    sys.exit(main(sys.argv[1], _limits, convert))
