"""The unit tier: fast, in one process, without the embedded AWS or moto (the engine runs over
:mod:`segflow_local.memory_stores`).

Property tests take their number of examples from the hypothesis profile: ``full`` unless another is named,
``check`` (``pytest tests/unit --hypothesis-profile=check``, what ``make check`` runs) for the inner loop.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

settings.register_profile("full", max_examples=150)
settings.register_profile("check", max_examples=20)
if settings.get_current_profile_name() == "default":  # --hypothesis-profile loads its profile after this
    settings.load_profile("full")


@pytest.fixture(scope="session")
def embedded() -> None:
    """Unit tests do not start the embedded AWS: what needs it belongs in another tier."""
    pytest.fail("a unit test asked for the embedded AWS; test the engine over segflow_local.memory_stores")
