"""Confinement the sandboxed child applies to itself before it parses anything.

Kernel limits (setrlimit) bound memory, CPU, file size, open files and core dumps.
Networking is cut three ways, strongest first: a seccomp filter makes socket(2) fail
for all code in the process, C libraries included (x86-64 and arm64 only); a fresh
network namespace (unshare, with a user namespace when unprivileged) leaves no
interface but a downed loopback; and Python's socket constructors raise. Each step is
best effort and `confine` reports which ones held, so a deployment that forbids user
namespaces and seccomp is visible rather than silently weaker. Unix sockets on the
filesystem stay reachable in a fresh network namespace: only the seccomp filter stops
those.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import socket

from portal.evidence.limits import Limits

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_EPERM = 0x00050000 | 1
# (audit arch, socket syscall number, socketpair syscall number)
_ARCHES = {"x86_64": (0xC000003E, 41, 53), "aarch64": (0xC00000B7, 198, 199)}


def confine(limits: Limits) -> list[str]:
    """Apply every limit; returns the network protections that took effect."""
    os.umask(0o077)
    held = []
    if _unshare_network():
        held.append("network namespace")
    if _seccomp_no_sockets():
        held.append("seccomp")
    _python_sockets_off()
    held.append("python sockets")
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_AS, limits.address_space)
    _limit(resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1)
    _limit(resource.RLIMIT_FSIZE, limits.output_bytes)
    _limit(resource.RLIMIT_NOFILE, limits.open_files)
    _limit(resource.RLIMIT_NPROC, 0)  # no fork or exec from the child (not enforced for root)
    return held


def _limit(which: int, soft: int, hard: int | None = None) -> None:
    current_hard = resource.getrlimit(which)[1]
    hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(which, (soft, hard))


def _unshare_network() -> bool:
    """Python 3.11 has no os.unshare: call libc. Must run while the process has one thread."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    for flags in (_CLONE_NEWNET, _CLONE_NEWUSER | _CLONE_NEWNET):
        if libc.unshare(flags) == 0:
            return True
    return False


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _seccomp_no_sockets() -> bool:
    """A small BPF filter: socket(2) and socketpair(2) fail with EPERM, all else allowed."""
    arch = _ARCHES.get(platform.machine())
    if arch is None:
        return False
    audit_arch, nr_socket, nr_socketpair = arch
    ld_w_abs, jeq_k, jge_k, ret_k = 0x20, 0x15, 0x35, 0x06
    program = [
        (ld_w_abs, 0, 0, 4),  # seccomp_data.arch
        (jeq_k, 0, 5, audit_arch),  # another ABI (i386 socketcall): refused
        (ld_w_abs, 0, 0, 0),  # seccomp_data.nr
        (jge_k, 3, 0, 0x40000000),  # x32 system calls: refused
        (jeq_k, 2, 0, nr_socket),
        (jeq_k, 1, 0, nr_socketpair),
        (ret_k, 0, 0, _SECCOMP_RET_ALLOW),
        (ret_k, 0, 0, _SECCOMP_RET_EPERM),
    ]
    filters = (_SockFilter * len(program))(*[_SockFilter(*i) for i in program])
    prog = _SockFprog(len(program), filters)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) == 0


def _python_sockets_off() -> None:
    def refuse(*_args, **_kwargs):
        raise OSError("no network in the evidence sandbox")

    socket.socket = refuse  # type: ignore[assignment, misc]
    socket.create_connection = refuse  # type: ignore[assignment]
    socket.socketpair = refuse  # type: ignore[assignment]


