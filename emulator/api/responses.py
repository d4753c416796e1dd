"""Serialising answers: JSON bodies (errors included) in the shapes the client families read."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from emulator.domain.models import Bridge, Broadcast, CallLeg, Play
from emulator.errors import EmulatorError
from emulator.jsonwire import dump_bytes

__all__ = [
    "bridge_body",
    "broadcast_body",
    "error_body",
    "hangup_body",
    "json_response",
    "play_body",
    "report_body",
]


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    try:
        body = dump_bytes(data)
    except UnicodeEncodeError:  # unpaired surrogates (sent as \ud800 escapes): escape them back
        body = json.dumps(data, separators=(",", ":")).encode("ascii")
    return web.Response(
        body=body, status=status, content_type="application/json", charset="utf-8", headers=headers
    )


def error_body(error: EmulatorError, timestamp: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "state": "failed",
        "status": "failed",
        "result": error.status,
        "error_code": error.code,
        "error_description": error.description,
        "message": error.description,
        "desc": error.description,
        "timestamp": timestamp,
    }
    body.update(error.ids)
    if "app_instance" in error.ids:
        body.setdefault("appInstance", error.ids["app_instance"])
        body.setdefault("broadcast_id", error.ids["app_instance"])
    return body


def _ids(broadcast: Broadcast) -> dict[str, Any]:
    bid = broadcast.broadcast_id
    return {"app_instance": bid, "appInstance": bid, "broadcast_id": bid}


def broadcast_body(broadcast: Broadcast, state: str, timestamp: str) -> dict[str, Any]:
    return {
        **_ids(broadcast),
        "application_name": broadcast.name,
        "state": state,
        "status": "success",
        "total_numbers": len(broadcast.targets),
        "timestamp": timestamp,
        "timeStamp": timestamp,
    }


def report_body(broadcast: Broadcast, timestamp: str, iso: Any) -> dict[str, Any]:
    rows = []
    for target in broadcast.targets:
        leg = target.leg
        row: dict[str, Any] = {"dialed_number": target.number, "state": target.state}
        row["attempts"] = target.attempts
        if leg is not None:
            row["voice_id"] = leg.voice_id
            if leg.reason:
                row["disconnect_reason"] = leg.reason
        if target.result is not None:
            row["result"] = target.result.as_json()
        elif target.retry is not None and target.attempts:
            row["next_attempt_at"] = iso(target.retry.due)
        rows.append(row)
    return {
        **_ids(broadcast),
        "application_name": broadcast.name,
        "owner_ref": broadcast.command.owner_ref,
        "state": broadcast.state.value,
        "progress": broadcast.progress(),
        "resultset": {"successfull_calls": broadcast.successful, "failed_calls": broadcast.failed},
        "resultSet": rows,
        "result_set": rows,
        "created_at": iso(broadcast.created_ms),
        "ended_at": iso(broadcast.ended_ms) if broadcast.ended_ms is not None else None,
        "timestamp": timestamp,
    }


def _leg_ids(leg: CallLeg) -> dict[str, Any]:
    bid = leg.broadcast.broadcast_id
    return {"voice_id": leg.voice_id, "app_instance": bid, "broadcast_id": bid}


def play_body(leg: CallLeg, play: Play, timestamp: str) -> dict[str, Any]:
    body = {
        **_leg_ids(leg),
        "play_id": play.play_id,
        "playstate": "initiated",
        "status": "success",
        "from": leg.broadcast.command.from_number,
        "to": leg.target.number,
        "timestamp": timestamp,
        "timeStamp": timestamp,
    }
    if play.spec.prompt_ref is not None:
        body["prompt_ref"] = play.spec.prompt_ref
    return body


def bridge_body(leg: CallLeg, bridge: Bridge, timestamp: str) -> dict[str, Any]:
    return {
        **_leg_ids(leg),
        "bridge_id": bridge.bridge_id,
        "state": "initiated",
        "status": "success",
        "description": "bridge initiated",
        "from": bridge.from_number,
        "to": bridge.to,
        "timestamp": timestamp,
        "timeStamp": timestamp,
    }


def hangup_body(leg: CallLeg, timestamp: str) -> dict[str, Any]:
    return {**_leg_ids(leg), "state": "success", "status": "success", "timestamp": timestamp}
