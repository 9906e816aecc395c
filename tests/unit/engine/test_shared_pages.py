"""One PushEvents invocation's reads of the execution log: every subscriber gets the page a read of the log
would give it, wherever it stands, and each number is read once for all of them."""

from __future__ import annotations

import random

from segflow.domain.limits import EVENT_PAGE_SIZE
from segflow.engine.live_delivery import SharedPages


class MemoryLog:
    """The log reader's contract over a dict of stored numbers: from ``after_seq + 1`` up to the first number
    not stored, at most a page. Counts the numbers it hands out."""

    def __init__(self, stored: set[int]) -> None:
        self.stored = stored
        self.numbers_read = 0

    def read(
        self, tenant_id: str, execution_id: str, after_seq: int = 0, limit: int = EVENT_PAGE_SIZE
    ) -> list[tuple[int, str | None]]:
        page: list[tuple[int, str | None]] = []
        seq = after_seq + 1
        while seq in self.stored and len(page) < limit:
            page.append((seq, None if seq % 97 == 0 else f'{{"seq": {seq}}}'))  # some tombstones
            seq += 1
        self.numbers_read += len(page)
        return page


def test_subscribers_anywhere_in_the_log_get_what_a_read_gives_and_share_the_reads() -> None:
    log = MemoryLog(set(range(1, 2_345)))
    pages = SharedPages(log)  # type: ignore[arg-type]
    reference = MemoryLog(log.stored)
    positions = [0, 1_700, 1_700, 250, 2_344, 999, 3, 2_000, 0, 2_400]
    random.Random(7).shuffle(positions)

    for position in positions:
        assert pages.read("t", "e", position) == reference.read("t", "e", position), position
    # each stored number read once, not once per subscriber (2,400 is past the end: one more empty read)
    assert log.numbers_read == 2_344


def test_a_page_ends_where_the_log_has_a_number_not_stored_yet() -> None:
    stored = set(range(1, 1_200)) - {601}
    log = MemoryLog(stored)
    pages = SharedPages(log)  # type: ignore[arg-type]
    reference = MemoryLog(stored)

    for position in (450, 0, 100, 600, 601, 700, 1_199):
        assert pages.read("t", "e", position) == reference.read("t", "e", position), position
    assert [seq for seq, _ in pages.read("t", "e", 450)] == list(range(451, 601))


def test_executions_are_read_apart() -> None:
    log = MemoryLog(set(range(1, 10)))
    pages = SharedPages(log)  # type: ignore[arg-type]
    assert pages.read("t", "a", 0) == pages.read("t", "b", 0) == pages.read("u", "a", 0)
    assert log.numbers_read == 27
