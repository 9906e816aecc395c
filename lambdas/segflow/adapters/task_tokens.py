"""Completing the state machine's callback tasks (``.waitForTaskToken``) with SendTaskSuccess."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

# The token's task ended already (timed out, or another caller completed it): nothing is left to resume.
_GONE = ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken")


class TaskTokens:
    def __init__(self, stepfunctions_client: Any) -> None:
        self._sfn = stepfunctions_client

    def resume(self, token: str, output: dict[str, Any]) -> bool:
        """Complete the waiting task; False when it is gone already (its timeout or another decision)."""
        try:
            self._sfn.send_task_success(taskToken=token, output=json.dumps(output, separators=(",", ":")))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _GONE:
                return False
            raise
        return True
