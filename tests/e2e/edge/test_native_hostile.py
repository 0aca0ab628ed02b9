"""Hostile text and numbers through every text and number field of the native API, on SQLite and
PostgreSQL side by side: never a 5xx, a clear 4xx in the API's shape or a success, what was
accepted reads back the same on both databases, and the resource still reads afterwards."""

from __future__ import annotations

import time
from typing import Any

from tests.e2e.edge.conftest import (
    Side,
    dumps,
    fuzz_numbers,
    fuzz_text,
    same_on_both,
    segment,
)

Outcome = tuple[Any, ...]


def _status(answer: Any) -> Any:
    """A status, with the error's code when refused."""
    return (
        answer.status_code
        if answer.status_code < 400
        else (answer.status_code, answer.json()["error"]["code"])
    )


def _created_then_read(
    side: Side, path: str, body: dict[str, Any], read: str, fields: tuple[str, ...]
) -> Outcome:
    """Creates, then reads the created resource at ``read`` (``{id}`` is its id)."""
    created = side.native("POST", path, body)
    if created.status_code != 201:
        return (_status(created),)
    again = side.native("GET", read.replace("{id}", segment(str(created.json().get("id", "")))))
    assert again.status_code == 200, (read[:300], again.text[:300])
    return (201, *(again.json()[f] for f in fields))


def _text_outcomes(side: Side, v: str) -> dict[str, Outcome]:
    ids = side.ids
    org, location, machine, part = ids["org"], ids["location"], ids["machine"], ids["part"]
    out: dict[str, Outcome] = {}
    out["organization"] = _created_then_read(
        side,
        "/organizations",
        {"name": v, "region": v[:64], "metadata": {"k": v, v: 1}},
        "/organizations/{id}",
        ("name", "region", "metadata"),
    )
    patched = side.native("PATCH", f"/organizations/{org}", {"cid": v[:64], "public_namespace": v[:63]})
    out["organization patch"] = (_status(patched), side.native("GET", f"/organizations/{org}").json()["cid"])
    out["location"] = _created_then_read(
        side,
        "/locations",
        {"organization_id": org, "name": v, "metadata": {"k": [v]}},
        "/locations/{id}",
        ("name", "metadata"),
    )
    out["machine"] = _created_then_read(
        side,
        "/machines",
        {"location_id": location, "name": v, "metadata": {v: v}},
        "/machines/{id}",
        ("name", "metadata"),
    )
    out["part"] = _created_then_read(
        side, f"/machines/{machine}/parts", {"name": v}, "/parts/{id}", ("name",)
    )
    for name, path, body in (
        ("location patch", f"/locations/{location}", {"name": v, "metadata": {"k": v}}),
        ("machine patch", f"/machines/{machine}", {"name": v, "metadata": {"k": v}}),
        ("part patch", f"/parts/{part}", {"metadata": {v: [v]}}),
    ):
        patched = side.native("PATCH", path, body)
        read = side.native("GET", path).json()
        out[name] = (_status(patched), read.get("name"), read.get("metadata"))
    put = side.native(
        "PUT", f"/parts/{part}/config", {"config": {"components": [{"name": v, "attributes": {v: v}}]}}
    )
    out["config"] = (_status(put), side.native("GET", f"/parts/{part}/config").json()["config"])
    entry = {
        "time": time.time(),
        "level": "info",
        "message": v,
        "logger_name": v[:200],
        "host": v[:255],
        "stack": v,
        "caller": {"File": v},
        "fields": [{"k": v}],
    }
    logged = side.native("POST", f"/parts/{part}/logs", {"entries": [entry]})
    newest = side.native("GET", f"/parts/{part}/logs", limit=1).json()["items"]
    out["logs"] = (_status(logged), [(e["message"], e["logger_name"], e["fields"]) for e in newest])
    out["logs filter"] = (_status(side.native("GET", f"/parts/{part}/logs", filter=v[:1000], limit=1)),)
    out["dataport"] = _created_then_read(
        side,
        f"/machines/{machine}/dataports",
        {"alias": v[:255], "name": v[:200], "format": "string"},
        f"/machines/{machine}/dataports/{segment(v[:255])}",
        ("alias", "name"),
    )
    out["dataport path"] = (_status(side.native("GET", f"/machines/{machine}/dataports/{segment(v[:300])}")),)
    wrote = side.native(
        "POST", f"/machines/{machine}/dataports/text/points", {"points": [{"value": v[:65536]}]}
    )
    read = side.native("GET", f"/machines/{machine}/dataports/text/points", limit=1).json()
    out["string point"] = (_status(wrote), [p["value"] for p in read])
    out["fragment"] = _created_then_read(
        side,
        "/fragments",
        {"organization_id": org, "name": v, "config": {"k": v}},
        "/fragments/{id}",
        ("name", "config"),
    )
    fragment_id = side.ids.setdefault(
        "fragment",
        side.native("POST", "/fragments", {"organization_id": org, "name": "f"}).json()["id"],
    )
    patched = side.native("PATCH", f"/fragments/{fragment_id}", {"name": v, "config": {v: {"k": v}}})
    again = side.native("GET", f"/fragments/{fragment_id}").json()
    history = side.native("GET", f"/fragments/{fragment_id}/history")
    out["fragment patch"] = (_status(patched), again["name"], again["config"], history.status_code)
    item = side.native("POST", "/registry/items", {"organization_id": org, "name": v, "type": "ml_model"})
    out["registry item"] = (_status(item),)
    if item.status_code == 201:
        patch = side.native("PATCH", f"/registry/items/{item.json()['id']}", {"description": v[:10_000]})
        again = side.native("GET", f"/registry/items/{item.json()['id']}").json()
        out["registry item"] += (_status(patch), again["name"], again["description"])
    module = side.native("POST", "/modules", {"organization_id": org, "name": v})
    out["module"] = (_status(module),)
    if module.status_code == 201:
        ref = module.json()["id"]
        patch = side.native(
            "PATCH",
            f"/modules/{ref}",
            {
                "description": v[:10_000],
                "entrypoint": v[:1024],
                "url": v[:2048],
                "models": [{"api": v, "model": v}],
            },
        )
        out["module"] += (_status(patch), side.native("GET", f"/modules/{ref}").json()["description"])
    owner = [{"role": "owner", "resource_type": "organization", "resource_id": org}]
    out["key"] = _created_then_read(
        side, f"/organizations/{org}/keys", {"name": v, "authorizations": owner}, "/keys/{id}", ("name",)
    )
    cloned = side.native("POST", f"/keys/{side.ids['key_id']}/clone", {"name": v})
    out["key clone"] = (_status(cloned), cloned.json()["name"] if cloned.status_code == 201 else None)
    out["user"] = _created_then_read(
        side,
        "/users",
        {"email": f"{v}@example.com"[-320:], "name": v[:200], "password": f"{v}12345678"[:1024]},
        "/users/{id}",
        ("email", "name"),
    )
    out["user email"] = (
        _status(side.native("POST", "/users", {"email": v[:320] or "x", "password": "p" * 8})),
    )
    login = side.http.post(
        "/api/v1/auth/login",
        content=dumps({"email": v[:320] or "xyz", "password": v or "p"}),
        headers={"Content-Type": "application/json"},
    )
    out["login"] = (_status(login),)
    out["invite"] = (
        _status(
            side.native(
                "POST",
                f"/organizations/{org}/invites",
                {"email": f"{v}@example.com"[-320:], "authorizations": owner},
            )
        ),
    )
    if v:
        out["machine path"] = (_status(side.native("GET", f"/machines/{segment(v[:100])}")),)
        out["machine filter"] = (_status(side.native("GET", f"/machines?location_id={segment(v[:100])}")),)
    return out


@fuzz_text
def test_hostile_text_in_every_native_field(sides: list[Side], v: str) -> None:
    same_on_both(sides, lambda side: _text_outcomes(side, v))


def _number_outcomes(side: Side, n: Any) -> dict[str, Outcome]:
    machine, part = side.ids["machine"], side.ids["part"]
    out: dict[str, Outcome] = {}
    alias = f"n{abs(hash(repr(n))) % 10**12}"
    out["dataport"] = _created_then_read(
        side,
        f"/machines/{machine}/dataports",
        {"alias": alias, "format": "float", "retention_count": n, "retention_seconds": n},
        f"/machines/{machine}/dataports/{alias}",
        ("retention_count", "retention_seconds"),
    )
    patched = side.native(
        "PATCH", f"/machines/{machine}/dataports/count", {"retention_count": n, "retention_seconds": n}
    )
    out["dataport patch"] = (
        _status(patched),
        side.native("GET", f"/machines/{machine}/dataports/count").json()["retention_count"],
    )
    wrote = side.native(
        "POST", f"/machines/{machine}/dataports/count/points", {"points": [{"timestamp": 1_000, "value": n}]}
    )
    out["integer point"] = (_status(wrote),)
    stamped = side.native(
        "POST", f"/machines/{machine}/dataports/text/points", {"points": [{"timestamp": n, "value": "t"}]}
    )
    out["timestamp"] = (_status(stamped),)
    for what in ("start", "end", "limit"):
        out[f"read {what}"] = (
            _status(side.native("GET", f"/machines/{machine}/dataports/count/points", **{what: n})),
        )
    out["read back"] = tuple(
        (p["timestamp"], p["value"])
        for p in side.native(
            "GET", f"/machines/{machine}/dataports/count/points", start=0, end=2_000, limit=1000
        ).json()
    )
    logged = side.native(
        "POST", f"/parts/{part}/logs", {"entries": [{"time": n, "level": "info", "message": "m"}]}
    )
    out["log time"] = (_status(logged),)
    for what in ("limit", "page_token"):
        out[f"logs {what}"] = (_status(side.native("GET", f"/parts/{part}/logs", **{what: n})),)
        out[f"machines {what}"] = (_status(side.native("GET", "/machines", **{what: n})),)
    out["config"] = (_status(side.native("PUT", f"/parts/{part}/config", {"config": {"n": n}})),)
    out["metadata"] = (
        _status(side.native("PATCH", f"/machines/{machine}", {"metadata": {"n": n}})),
        side.native("GET", f"/machines/{machine}").json()["metadata"],
    )
    return out


@fuzz_numbers
def test_hostile_numbers_in_every_native_number(sides: list[Side], n: Any) -> None:
    same_on_both(sides, lambda side: _number_outcomes(side, n))
