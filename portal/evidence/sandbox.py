"""Run one conversion in a confined child process; the web worker only waits on pipes.

The child is `python -m portal.evidence.worker` (started through a tiny bootstrap that
skips `portal/__init__`, so Flask and the database layer never load in it), with a
minimal environment, a fresh 0700 temporary directory as TMPDIR and working directory,
and its own process group. The child sets its kernel limits before reading any
untrusted byte (see confine.py); the parent enforces wall time by killing the group,
caps what it reads back, and samples the child's peak memory (limits.peak_kib).
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from portal.evidence import framing
from portal.evidence.limits import Limits, peak_kib
from portal.evidence.results import Converted, Refused

PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
# Registers `portal` as a bare namespace (no __init__ side effects) and runs the worker as __main__.
_BOOT = (
    "import sys, types, runpy; p = types.ModuleType('portal'); p.__path__ = [sys.argv[1] + '/portal']; "
    "sys.modules['portal'] = p; sys.argv = sys.argv[1:]; runpy.run_module('portal.evidence.worker', run_name='__main__')"
)
_STDERR_CAP = 16 * 1024


def run(kind: str, data: bytes, limits: Limits) -> Converted | Refused:
    """Convert `data` (already sniffed as `kind`) in a sandboxed child."""
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="evidence-")  # mkdtemp makes it 0700
    env = {"PATH": "/usr/bin:/bin", "TMPDIR": workdir, "HOME": workdir, "LANG": "C.UTF-8", "PYTHONHASHSEED": "random"}
    command = [sys.executable, "-I", "-c", _BOOT, PACKAGE_PARENT, kind, limits.to_json()]
    try:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=workdir, env=env, start_new_session=True, close_fds=True,
        )
        try:
            out, err, timed_out, sampled_kib = _exchange(proc, data, limits, started)
        finally:
            _kill_group(proc)
            code = _reap(proc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    seconds = time.monotonic() - started
    details = {"exit": code, "stderr": err[-2000:].decode("utf-8", "replace")}
    if timed_out:
        return Refused(f"Making a safe copy took longer than {limits.wall_seconds:g} seconds, so it was stopped.",
                       seconds, sampled_kib, details)
    try:
        header, payload = framing.decode(out)
    except framing.BadFrame:
        return Refused(_crash_reason(code), seconds, sampled_kib, details)
    peak_kib = max(sampled_kib, int(header.get("peak_kib") or 0))
    if header.get("status") == "converted" and code == 0:
        return Converted(payload, str(header["content_type"]), [str(r) for r in header["removed"]],
                         int(header["pages"]), seconds, peak_kib)
    return Refused(str(header.get("reason") or _crash_reason(code)), seconds, peak_kib, details)


def _crash_reason(code: int | None) -> str:
    if code in (-signal.SIGKILL, -signal.SIGXCPU):
        return "Making a safe copy needed more computing time than allowed, so it was stopped."
    return "The file could not be converted safely: it is damaged or needs more memory than allowed."


def _exchange(proc: subprocess.Popen, data: bytes, limits: Limits, started: float) -> tuple[bytes, bytes, bool, int]:
    """Write stdin, read stdout and stderr (capped) until EOF or the deadline, sampling the child's
    peak memory every 50 ms; nothing else blocks."""
    deadline = started + limits.wall_seconds
    out_cap = limits.output_bytes + framing.MAX_HEADER + 8
    out, err = bytearray(), bytearray()
    view, sent = memoryview(data), 0
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdin, selectors.EVENT_WRITE)
        sel.register(proc.stdout, selectors.EVENT_READ)
        sel.register(proc.stderr, selectors.EVENT_READ)
        os.set_blocking(proc.stdin.fileno(), False)
        if not data:
            sel.unregister(proc.stdin)
            proc.stdin.close()
        peak = 0
        while sel.get_map():
            left = deadline - time.monotonic()
            peak = max(peak, peak_kib(proc.pid))
            if left <= 0:
                return bytes(out), bytes(err), True, peak
            for key, _ in sel.select(min(left, 0.05)):
                if key.fileobj is proc.stdin:
                    try:
                        sent += os.write(proc.stdin.fileno(), view[sent : sent + 65536])
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:  # the child stopped reading: it refused early or died
                        sent = len(data)
                    if sent >= len(data):
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif key.fileobj is proc.stderr:
                    err += chunk[: max(0, _STDERR_CAP - len(err))]  # keep draining so the child never blocks
                elif len(out) + len(chunk) > out_cap:
                    return b"", bytes(err), False, peak  # an answer this large is unusable; the caller kills the child
                else:
                    out += chunk
    return bytes(out), bytes(err), False, peak


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream and not stream.closed:
            try:
                stream.close()
            except OSError:
                pass


def _reap(proc: subprocess.Popen) -> int | None:
    """The child's exit code (it was killed already if it had not finished)."""
    return proc.wait()
