"""k6's REST API (``--address``): the test's status, metrics and groups as
JSON:API documents, and PATCH /v1/status to start a paused test or stop it.

The server runs on its own threads, not on the VUs' hub: a request is
answered while the VUs keep the hub busy (the hub lets go of the GIL every
slice, see vu/hub.py). It reads the run's state without waiting for the VUs.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from enum import IntEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

DEFAULT_ADDRESS = "localhost:6565"
_MAX_BODY = 1 << 20  # a status PATCH is a few dozen bytes


class Status(IntEnum):
    """k6's lib.ExecutionStatus, the numbers /v1/status reports."""

    CREATED = 0
    INIT_VUS = 1
    INIT_EXECUTORS = 2
    INIT_DONE = 3
    PAUSED_BEFORE_RUN = 4
    STARTED = 5
    SETUP = 6
    RUNNING = 7
    TEARDOWN = 8
    ENDED = 9
    INTERRUPTED = 10


class AddressError(ValueError):
    """An --address that cannot be listened on; the message is k6's."""


class PatchError(Exception):
    """A PATCH the run refuses: (HTTP status, title, detail) as k6 answers."""

    def __init__(self, status: int, title: str, detail: str):
        super().__init__(f"{title}: {detail}")
        self.status, self.title, self.detail = status, title, detail


class Control:
    """The part of a run the API sees and steers: status, the pause before
    the start, and a stop asked for from outside."""

    def __init__(self, paused: bool = False):
        self.status = Status.CREATED
        self.paused = paused
        self.started = False  # setup() or the scenarios began
        self.ended = False  # ran to its end (a stopped test never does, as in k6)
        self.stopped = False  # PATCH stopped:true came
        self._resumed = threading.Event()
        self._lock = threading.Lock()
        # Set by the run once it knows them.
        self.on_stop: Callable[[], None] = lambda: None
        self.first_executor: Callable[[], tuple[str, str] | None] = lambda: None

    def pause_from_options(self, paused: bool) -> None:
        """The `paused` option, known once the script's init ran; a resume that
        came meanwhile (k6-operator's starter can be that quick) stands."""
        with self._lock:
            if paused and not self._resumed.is_set():
                self.paused = True

    def wait_for_start(self, stop: threading.Event) -> bool:
        """Block while paused; False if the test was stopped meanwhile."""
        if self.paused:
            self.status = Status.PAUSED_BEFORE_RUN
            while not self._resumed.wait(0.05):
                if stop.is_set():
                    return False
        return not stop.is_set()

    def set_paused(self, paused: bool) -> None:
        """k6's Scheduler.SetPaused: only a test paused before its start can be resumed."""
        with self._lock:
            if not self.started and self.paused:
                if paused:
                    raise PatchError(500, "Pause error", "execution is already paused")
                self.paused = False
                self._resumed.set()
                return
        first = self.first_executor()
        if first is None:  # k6 has no executors yet either: nothing refuses, nothing happens
            return
        kind, name = first
        raise PatchError(500, "Pause error",
                         f"{kind} executor '{name}' doesn't support pause and resume operations after its start")

    def stop(self) -> None:
        self.stopped = True
        self.on_stop()

    def patch(self, body: bytes) -> None:
        """Apply a PATCH /v1/status body as k6's handlePatchStatus does."""
        try:
            document = json.loads(body or b"null")
            attributes = document["data"]["attributes"] if isinstance(document, dict) else None
            if not isinstance(attributes, dict):
                raise ValueError("expected {\"data\": {\"attributes\": {...}}}")
        except (ValueError, KeyError, TypeError) as exc:
            raise PatchError(400, "Invalid data", str(exc)) from None
        for key, kind in (("paused", bool), ("stopped", bool), ("vus", int), ("vus-max", int)):
            value = attributes.get(key)
            if value is not None and (type(value) is not kind):
                raise PatchError(400, "Invalid data", f"attribute {key!r} must be a {'boolean' if kind is bool else 'number'}")
        if attributes.get("stopped"):
            self.stop()
            return
        if attributes.get("paused") is not None:
            self.set_paused(attributes["paused"])
        if attributes.get("vus") is not None or attributes.get("vus-max") is not None:
            # k6 1.1.0's words; k6host has no externally-controlled executor.
            raise PatchError(500, "Execution config error",
                             "an externally-controlled executor needs to be configured for live configuration updates")


# -- the documents ---------------------------------------------------------------------------
def status_document(control: Control, vus: int, vus_max: int, tainted: bool) -> dict[str, Any]:
    return {"data": {"type": "status", "id": "default", "attributes": {
        "status": int(control.status),
        "paused": control.paused,
        "vus": vus,
        "vus-max": vus_max,
        "stopped": control.stopped,
        "running": control.started and not control.ended,
        "tainted": tainted,
    }}}


def metric_data(name: str, kind: str, contains: str, tainted: bool | None, sample: dict[str, float]) -> dict[str, Any]:
    return {"type": "metrics", "id": name,
            "attributes": {"type": kind, "contains": contains, "tainted": tainted, "sample": sample}}


def groups_document(root: dict[str, Any]) -> dict[str, Any]:
    """The group tree (GroupTree.to_data's shape), flattened as k6 lists it."""
    data: list[dict[str, Any]] = []

    def visit(group: dict[str, Any], parent_id: str | None) -> None:
        data.append({
            "type": "groups",
            "id": group["id"],
            "attributes": {
                "path": group["path"],
                "name": group["name"],
                # Go marshals an empty slice it never appended to as null.
                "checks": [{k: c[k] for k in ("id", "path", "name", "passes", "fails")} for c in group["checks"]] or None,
            },
            "relationships": {
                "groups": {"data": [{"type": "groups", "id": g["id"]} for g in group["groups"]]},
                "parent": {"data": None if parent_id is None else {"type": "groups", "id": parent_id}},
            },
        })
        for child in group["groups"]:
            visit(child, group["id"])

    visit(root, None)
    return {"data": data}


def error_document(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"errors": [{"status": str(status), "title": title, "detail": detail}]}


# -- the server ------------------------------------------------------------------------------
def parse_address(address: str) -> tuple[str, int]:
    """Go's host:port (``localhost:6565``, ``:6565``, ``[::1]:6565``), with Go's messages."""
    host, sep, port = address.rpartition(":")
    if not sep:
        raise AddressError(f"listen tcp: address {address}: missing port in address")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise AddressError(f"listen tcp: address {address}: too many colons in address")
    try:
        number = int(port) if port else 0
    except ValueError:
        raise AddressError(f"listen tcp: lookup port {port}: unknown port") from None
    if not 0 <= number <= 65535:
        raise AddressError(f"listen tcp: address {number}: invalid port")
    return host, number


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: Any) -> None:  # requests are not the test's log
        pass

    def _send(self, status: int, document: Any | None) -> None:
        body = b"" if document is None else json.dumps(document, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        view = self.server.view
        path = self.path.split("?", 1)[0]
        if path == "/v1/status":
            self._send(200, view.status())
        elif path == "/v1/metrics":
            self._send(200, {"data": view.metrics()})
        elif path.startswith("/v1/metrics/"):
            wanted = path[len("/v1/metrics/"):]
            found = [m for m in view.metrics() if m["id"] == wanted]
            if found:
                self._send(200, {"data": found[0]})
            else:
                self._send(404, error_document(404, "Not Found", "No metric with that ID was found"))
        elif path == "/v1/groups":
            self._send(200, view.groups())
        elif path.startswith("/v1/groups/"):
            wanted = path[len("/v1/groups/"):]
            found = [g for g in view.groups()["data"] if g["id"] == wanted]
            if found:
                self._send(200, {"data": found[0]})
            else:
                self._send(404, error_document(404, "Not Found", "No group with that ID was found"))
        else:
            self._send(404, None)

    def do_PATCH(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0] != "/v1/status":
            self._send(405 if self.path.startswith("/v1/") else 404, None)
            return
        try:
            body = self._body()
        except ValueError:
            self._send(400, error_document(400, "Couldn't read request", "malformed request body"))
            self.close_connection = True
            return
        try:
            self.server.view.control.patch(body)
        except PatchError as exc:
            self._send(exc.status, error_document(exc.status, exc.title, exc.detail))
            return
        self._send(200, self.server.view.status())

    def _body(self) -> bytes:
        """The request body, sent with a Content-Length or chunked (as Go's client sends it)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline(64).split(b";")[0].strip() or b"x", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return b"".join(chunks)
                if size > _MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(8)
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 <= length <= _MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def _not_allowed(self) -> None:
        self._send(405, None)

    do_POST = do_PUT = do_DELETE = _not_allowed


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # as Go's listener: a port in TIME_WAIT can be listened on again

    def __init__(self, address: tuple[str, int], view: "RunView", family: int):
        self.address_family = family
        self.view = view
        super().__init__(address, _Handler)


class RestServer:
    """The API on one address, served by a thread of its own until close()."""

    def __init__(self, address: str, view: "RunView"):
        host, port = parse_address(address)
        try:
            infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise AddressError(f"listen tcp: lookup {host}: {exc.strerror}") from None
        # "localhost" may name ::1 first; k6 (Go) listens on 127.0.0.1 for it.
        infos.sort(key=lambda info: info[0] != socket.AF_INET)
        family, _, _, _, sockaddr = infos[0]
        try:
            self._server = _Server(sockaddr[:2], view, family)
        except OSError as exc:
            shown = f"[{sockaddr[0]}]" if family == socket.AF_INET6 else sockaddr[0]
            raise AddressError(f"listen tcp {shown}:{port}: bind: {(exc.strerror or str(exc)).lower()}") from None
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="rest-api", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(1.0)


def _go_json_number(value: float) -> float | int:
    return int(value) if float(value).is_integer() and abs(value) < 1e15 else float(value)


def elapsed_since(started: float | None) -> float:
    """The test's run time so far (counters' rates), 0 before it began."""
    return 0.0 if started is None else max(0.0, time.monotonic() - started)


# k6's Sink.Format: what /v1/metrics shows of each metric type.
_SAMPLE_KEYS = {
    "counter": ("count", "rate"),
    "gauge": ("value",),
    "rate": ("rate",),
    "trend": ("min", "max", "avg", "med", "p(90)", "p(95)"),
}


class RunView:
    """What the server reads of one TestRun (runner.py): its TestState, thresholds and Control."""

    def __init__(self, run: Any):
        self.run = run
        self.control: Control = run.control

    def _tainted(self) -> dict[str, bool]:
        """Per metric with thresholds, whether one is crossed (once evaluated)."""
        if not self.run.thresholds_evaluated:
            return {}
        tainted: dict[str, bool] = {}
        for threshold in list(self.run.thresholds):
            tainted[threshold.metric] = tainted.get(threshold.metric, False) or not threshold.ok
        return tainted

    def status(self) -> dict[str, Any]:
        test = self.run.test
        return status_document(self.control, test.vus_active, test.vus_initialized, any(self._tainted().values()))

    def metrics(self) -> list[dict[str, Any]]:
        test = self.run.test
        elapsed = elapsed_since(test.started if self.control.started else None)
        tainted = self._tainted()
        rows = []
        for metric, values in test.metrics.observed_values(elapsed, list(_SAMPLE_KEYS["trend"])):
            # Go writes a whole float64 as 0, not 0.0: the same JSON numbers k6 sends.
            sample = {key: _go_json_number(values.get(key, 0.0)) for key in _SAMPLE_KEYS[metric.type]}
            rows.append(metric_data(metric.name, metric.type, metric.contains, tainted.get(metric.name), sample))
        return rows

    def groups(self) -> dict[str, Any]:
        return groups_document(self.run.test.groups.to_data())
