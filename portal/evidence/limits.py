"""How much one safe copy may cost, fixed before any untrusted byte is parsed.

The parent hands these to the sandboxed child on its command line; the child sets
the kernel limits from them and the converters check the content limits before work.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    address_space: int = 512 * MIB  # RLIMIT_AS of the child: a bomb fails there, never in the web worker
    cpu_seconds: int = 20  # RLIMIT_CPU (the kernel's backstop behind the wall-time limit)
    wall_seconds: float = 30.0  # the parent kills the child's process group after this
    input_bytes: int = 64 * MIB  # larger originals are kept as evidence but not converted
    output_bytes: int = 96 * MIB  # the safe copy, and RLIMIT_FSIZE for any file the child writes
    open_files: int = 32  # RLIMIT_NOFILE: the child needs its pipes and a few module files
    max_pages: int = 200
    dpi: int = 150  # Dangerzone's default: readable text, about 6 MB of pixels per A4 page
    max_page_pixels: int = 12_000_000  # a page larger than this is rendered at a lower resolution
    max_objects: int = 300_000  # PDF objects declared by the cross-reference data
    max_image_pixels: int = 50_000_000  # width x height read from the header, checked before decoding
    max_zip_entries: int = 2_000
    max_unzipped_bytes: int = 200 * MIB
    max_entry_ratio: int = 200  # uncompressed / compressed for one zip entry
    max_xml_bytes: int = 32 * MIB  # one XML part, uncompressed

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Limits:
        fields = json.loads(text)
        return cls(**{k: v for k, v in fields.items() if k in cls.__dataclass_fields__})


def peak_kib(pid: int | str = "self") -> int:
    """A process's own high-water resident memory in KiB (VmHWM of its post-exec image), 0 if gone.
    wait4's ru_maxrss is no use for the child: Linux carries the forked web worker's high-water
    mark across exec, so it would report the parent's."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
