"""The live console: one self-contained HTML page (inline style and script) showing one execution's events.

It is served by the management API's public ``GET /console`` route (the page holds no data; what it shows
comes over the WebSocket API, whose link rides in the URL's fragment). Its Content-Security-Policy admits
exactly the page's own inline style and script, by hash, and WebSocket connections.
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
        "connect-src ws: wss:; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    return html, headers
