"""``k6host status``, ``pause``, ``resume`` and ``stats``: k6's commands that
talk to a running test's REST API (restapi.py), printing what k6 prints (YAML)."""

from __future__ import annotations

import http.client
import json
import math
from typing import Any, TextIO

from k6host.run.restapi import parse_address


class ClientError(Exception):
    """The API could not be reached or refused the request; the message says which."""


def _request(address: str, method: str, path: str, body: Any = None) -> Any:
    host, port = parse_address(address)
    host = host or "localhost"
    url = f"http://{host}:{port}{path}"
    data = None if body is None else json.dumps(body).encode()
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        raw = response.read()
    except OSError as exc:
        raise ClientError(f'{method.capitalize()} "{url}": {exc.strerror or exc}') from None
    finally:
        connection.close()
    try:
        document = json.loads(raw) if raw else None
    except ValueError:
        raise ClientError(f'{method.capitalize()} "{url}": the answer is not JSON (is this a k6 REST API?)') from None
    if response.status >= 400:
        errors = (document or {}).get("errors") if isinstance(document, dict) else None
        if errors:
            raise ClientError("; ".join(f"{e.get('title')}: {e.get('detail')}" for e in errors))
        raise ClientError(f'{method.capitalize()} "{url}": HTTP {response.status}')
    return document


def _go_number(value: float) -> str:
    """A float as Go's YAML encoder writes it: 0, 3, 3.7776002702298794."""
    if isinstance(value, float) and math.isfinite(value) and value == int(value) and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def _null(value: Any) -> str:
    """A guregu null.Bool/null.Int as k6's YAML shows it: quoted, or "" for null."""
    if value is None:
        return '""'
    if isinstance(value, bool):
        return f'"{str(value).lower()}"'
    return f'"{value}"'


def _status_yaml(attributes: dict[str, Any]) -> str:
    return "".join([
        f"status: {attributes['status']}\n",
        f"paused: {_null(attributes['paused'])}\n",
        f"vus: {_null(attributes['vus'])}\n",
        f"vus-max: {_null(attributes['vus-max'])}\n",
        f"stopped: {str(attributes['stopped']).lower()}\n",
        f"running: {str(attributes['running']).lower()}\n",
        f"tainted: {str(attributes['tainted']).lower()}\n",
    ])


def status(address: str, out: TextIO) -> None:
    out.write(_status_yaml(_request(address, "GET", "/v1/status")["data"]["attributes"]))


def set_paused(address: str, paused: bool, out: TextIO) -> None:
    body = {"data": {"type": "status", "id": "default", "attributes": {"paused": paused}}}
    out.write(_status_yaml(_request(address, "PATCH", "/v1/status", body)["data"]["attributes"]))


def stats(address: str, out: TextIO) -> None:
    rows = sorted(_request(address, "GET", "/v1/metrics")["data"], key=lambda row: row["id"])
    for row in rows:
        attributes = row["attributes"]
        out.write(f"- name: {row['id']}\n")
        for key in ("type", "contains"):
            out.write(f"  {key}:\n    type: {attributes[key]}\n    valid: true\n")
        out.write(f"  tainted: {_null(attributes['tainted'])}\n  sample:\n")
        for key in sorted(attributes["sample"]):
            out.write(f"    {key}: {_go_number(float(attributes['sample'][key]))}\n")
