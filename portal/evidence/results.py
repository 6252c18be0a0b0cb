"""What a conversion returns: a safe copy, or a refusal the reviewer can read."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Converted:
    data: bytes
    content_type: str
    removed: list[str]  # what the original had and the copy has not, in words for the reviewer
    pages: int  # pages of a document; 1 for an image or an office file
    seconds: float = 0.0  # wall time of the sandboxed child
    peak_rss_kib: int = 0  # the child's own peak resident memory (limits.peak_kib)


@dataclass(frozen=True)
class Refused:
    reason: str  # one sentence for the reviewer; the original stays available as evidence
    seconds: float = 0.0
    peak_rss_kib: int = 0
    details: dict = field(default_factory=dict)  # for logs and benchmarks, never shown as HTML


class Unsafe(Exception):
    """Raised by a converter: the file is refused, with a reason the reviewer can read."""
