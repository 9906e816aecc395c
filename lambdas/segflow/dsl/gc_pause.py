"""Python's cyclic garbage collector paused while a workflow is validated or partitioned.

Both build hundreds of thousands of small objects for a large workflow, none of them in a reference cycle,
so the collector frees nothing there; yet its collections, which walk every object younger than their
generation (a full one: every live object), cost about as much as the work itself at 100,000 nodes.
Reference counting still frees everything as usual.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block; nested blocks leave it to the outermost to resume it.

    On the way out, what the block built is moved to the oldest generation without being walked (freeze then
    unfreeze: two list splices), as if it had survived the young collections it skipped; otherwise the first
    young collection after the block would walk all of it to find nothing. The next full collection, which
    walks everything anyway, still frees any cycle among it. Not done while anything else is frozen (a
    pre-fork server's objects stay where their owner put them)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()
