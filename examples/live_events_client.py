"""Follow one execution's live events with the plain ``websockets`` library (no segflow import): the protocol
of docs/live-events.md, from finding the socket to the execution's end.

    python examples/live_events_client.py EXECUTION_ID --endpoint http://127.0.0.1:4566 --tenant default
    python examples/live_events_client.py EXECUTION_ID --url "wss://…"   # a deployed stage, signed or ?token=

Prints one line per event, in seq order, each once, and exits 0 when the execution succeeded, 1 otherwise.
It keeps the last seq it printed and, after a dropped connection, reconnects and subscribes again with
``since_seq``; events it already has (a replay overlapping live events) are dropped by seq, events that
arrive ahead of a missing seq wait for it, and numbers listed under ``skipped`` hold no event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.parse
import urllib.request

import websockets

TERMINAL = {"succeeded", "failed", "aborted", "timed_out"}
RECONNECT_DELAYS = (0.1, 0.5, 1, 2, 5)
NOT_FOUND_RETRIES = 150  # 30 s: an execution just started has no record for a moment
PING_AFTER_SECONDS = 60  # keep an idle connection (API Gateway closes it after 10 idle minutes)


def local_socket_url(endpoint: str, tenant: str) -> str:
    """``segflow local up`` names its socket in its outputs; the local gateway takes the tenant as a query."""
    with urllib.request.urlopen(f"{endpoint}/_segflow/outputs", timeout=10) as response:
        url = json.loads(response.read())["LiveWebSocketUrl"]
    return f"{url}?{urllib.parse.urlencode({'tenant': tenant})}"


async def follow(url: str, execution_id: str) -> str:
    """Print every event of the execution after the last one printed; returns its final state."""
    last_seq, held, not_found = 0, {}, 0
    attempt = 0
    while True:
        try:
            async with websockets.connect(url, max_size=2**20) as socket:
                attempt = 0
                subscribe = {"action": "subscribe", "execution_id": execution_id, "since_seq": last_seq}
                await socket.send(json.dumps(subscribe))
                held.clear()
                while True:
                    try:
                        message = json.loads(await asyncio.wait_for(socket.recv(), PING_AFTER_SECONDS))
                    except TimeoutError:
                        await socket.send(json.dumps({"action": "ping"}))
                        continue
                    if message.get("type") == "error":
                        if message.get("code") == "NotFound" and not_found < NOT_FOUND_RETRIES:
                            not_found += 1
                            await asyncio.sleep(0.2)
                            await socket.send(json.dumps(subscribe))
                            continue
                        raise SystemExit(f"refused: {message.get('code')}: {message.get('message')}")
                    if message.get("type") != "events":
                        continue  # subscribed, pong
                    for event in message["events"]:
                        if event["seq"] > last_seq:
                            held[event["seq"]] = event
                    for seq in message.get("skipped", []):
                        if seq > last_seq:
                            held[seq] = None
                    while last_seq + 1 in held:
                        last_seq += 1
                        event = held.pop(last_seq)
                        if event is None:
                            continue
                        where = event.get("node_id") or "execution"
                        print(f"{event['seq']:>5} {where}: {event['previous_state']} -> {event['new_state']}")
                        if event["kind"] == "execution" and event["new_state"] in TERMINAL:
                            return str(event["new_state"])
        except (OSError, websockets.ConnectionClosed) as error:
            if attempt >= len(RECONNECT_DELAYS):
                raise SystemExit(f"cannot reach {url.split('?')[0]}: {error}") from error
            await asyncio.sleep(RECONNECT_DELAYS[attempt])
            attempt += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("execution_id", help="the execution's id (or ARN)")
    parser.add_argument("--url", help="the socket URL, ready to connect (deployed: signed, or with ?token=)")
    parser.add_argument("--endpoint", default="http://127.0.0.1:4566", help="segflow local up's endpoint")
    parser.add_argument("--tenant", default="default", help="local only: the tenant to connect as")
    args = parser.parse_args()
    url = args.url or local_socket_url(args.endpoint, args.tenant)
    final = asyncio.run(follow(url, args.execution_id))
    print(f"execution {final}")
    return 0 if final == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
