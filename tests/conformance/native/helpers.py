"""Checks on the native API's answers, shared by the API tests."""

from __future__ import annotations

from typing import Any


def ok(response: Any, status: int = 200) -> Any:
    """Asserts the answer's status; returns its JSON body (None when it has none)."""
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def error(response: Any, status: int, code: str) -> str:
    """Asserts an error answer: its status, the error's code and a message; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert body["error"]["message"]
    return str(body["error"]["message"])
