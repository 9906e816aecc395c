"""Node tests talk to HTTP servers on loopback: their egress policy allows it, as the local runtime's does
(tests of the policy itself set their own)."""

from __future__ import annotations

import pytest
from segflow.domain.egress import EGRESS_ALLOW_ENV


@pytest.fixture(autouse=True)
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EGRESS_ALLOW_ENV, "127.0.0.0/8,::1")
