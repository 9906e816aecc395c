"""The console: one self-contained HTML page (inline style and script, nothing fetched from elsewhere) to
operate executions and workflows: the executions list, an execution's graph and nodes coloured live, its
approvals, a workflow's versions, diff and rollback.

It is served by the management API's public ``GET /console`` route. The page holds no data: it reads the
management API next to it, with the credentials its link's fragment names (never sent to a server but as
the API's own headers), and the live-events WebSocket named there too. Its Content-Security-Policy admits
exactly the page's own inline style and script, by hash, requests to its own origin and WebSocket connections.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib import resources

PAGE_FILE = "index.html"


def _hashes(html: str, tag: str) -> str:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'" for block in blocks
    )


@cache
def page() -> tuple[str, dict[str, str]]:
    """The page and the headers it is served with."""
    html = resources.files(__package__).joinpath(PAGE_FILE).read_text(encoding="utf-8")
    policy = (
        f"default-src 'none'; script-src {_hashes(html, 'script')}; style-src {_hashes(html, 'style')}; "
        "connect-src 'self' ws: wss:; img-src 'none'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    return html, headers
