"""The child's answer on its stdout: b"EVD1", a 4-byte header length, a JSON header, the payload.

Small and strict so the parent reads it without parsing anything rich, and never more
than it allowed.
"""

from __future__ import annotations

import json
import struct

MAGIC = b"EVD1"
MAX_HEADER = 64 * 1024


class BadFrame(Exception):
    """The child's answer is not in the expected format (it crashed or misbehaved)."""


def encode(header: dict, payload: bytes = b"") -> bytes:
    body = json.dumps({**header, "size": len(payload)}, separators=(",", ":")).encode()
    if len(body) > MAX_HEADER:
        raise ValueError("header too large")
    return MAGIC + struct.pack(">I", len(body)) + body + payload


def decode(frame: bytes) -> tuple[dict, bytes]:
    if len(frame) < 8 or frame[:4] != MAGIC:
        raise BadFrame("no answer")
    (length,) = struct.unpack(">I", frame[4:8])
    if length > MAX_HEADER or len(frame) < 8 + length:
        raise BadFrame("truncated header")
    try:
        header = json.loads(frame[8 : 8 + length])
    except ValueError as exc:
        raise BadFrame("unreadable header") from exc
    payload = frame[8 + length :]
    if not isinstance(header, dict) or header.get("size") != len(payload):
        raise BadFrame("truncated payload")
    return header, payload
