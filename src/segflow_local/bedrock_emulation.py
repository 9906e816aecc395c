"""Amazon Bedrock's Converse API in the embedded cloud (moto 5.2.5 has only InvokeModel, answering ``{}``).

The local "model" answers from a queue (``queue_answers``), in order, with token counts from the text sizes;
with an empty queue it answers ``local <modelId>: <the last user message>``, so workflows run without setup.
Every request is kept (``requests()``): tests count how often the model was called, and with what.
"""

from __future__ import annotations

import threading
import time
from typing import Any

_lock = threading.Lock()
_applied = False
_answers: list[str] = []
_requests: list[dict[str, Any]] = []


def queue_answers(*texts: str) -> None:
    with _lock:
        _answers.extend(texts)


def requests() -> list[dict[str, Any]]:
    with _lock:
        return list(_requests)


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def apply() -> None:
    global _applied
    with _lock:
        if _applied:
            return
        from moto.bedrockruntime.responses import BedrockRuntimeResponse
        from moto.core.responses import ActionResult

        def converse(self: Any) -> Any:
            started = time.monotonic()
            model_id = self._get_param("modelId")
            messages = self._get_param("messages") or []
            request = {
                "modelId": model_id,
                "messages": messages,
                "system": self._get_param("system"),
                "inferenceConfig": self._get_param("inferenceConfig"),
            }
            last: dict[str, Any] = next(
                (m for m in reversed(messages) if m.get("role") == "user"), {"content": []}
            )
            prompt = "".join(part.get("text", "") for part in last.get("content", []))
            with _lock:
                _requests.append(request)
                text = _answers.pop(0) if _answers else f"local {model_id}: {prompt}"
            asked = sum(len(p.get("text", "")) for m in messages for p in m.get("content", []))
            return ActionResult(
                {
                    "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                    "stopReason": "end_turn",
                    "usage": {
                        "inputTokens": max(1, asked // 4),
                        "outputTokens": _tokens(text),
                        "totalTokens": max(1, asked // 4) + _tokens(text),
                    },
                    "metrics": {"latencyMs": max(1, int((time.monotonic() - started) * 1000))},
                }
            )

        BedrockRuntimeResponse.converse = converse  # type: ignore[attr-defined]  # moto lacks Converse
        _applied = True
