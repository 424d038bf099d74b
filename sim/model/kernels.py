"""Keep numba's on-disk cache of the compiled kernels in step with their sources.

numba caches a compiled function by its own source file only: a kernel that calls functions of
another module (the month kernel calls the rules) would go on running their old code after that
module is edited. `refresh` clears the compiled files of every kernel module whenever any of
their sources changed (a digest kept beside the cache), before any kernel is loaded. An
installed package never needs it (installing rewrites every file, and numba then recompiles
each), but a checkout being edited does.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

KERNEL_MODULES = ("stages", "tables", "pcg", "rules", "requests", "phases", "month")
STAMP = "kernels.digest"


def refresh(folder: Path = Path(__file__).parent) -> bool:
    """Clear the kernel modules' compiled files if their sources changed; True if it did."""
    digest = hashlib.sha256()
    for name in KERNEL_MODULES:
        digest.update((folder / f"{name}.py").read_bytes())
    cache = folder / "__pycache__"
    stamp = cache / STAMP
    try:
        if stamp.read_text() == digest.hexdigest():
            return False
    except OSError:
        pass
    for name in KERNEL_MODULES:
        for compiled in cache.glob(f"{name}.*.nb[ic]"):
            compiled.unlink(missing_ok=True)
    try:
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest.hexdigest())
    except OSError:  # a read-only installation: numba keeps its cache elsewhere, or none
        pass
    return True
