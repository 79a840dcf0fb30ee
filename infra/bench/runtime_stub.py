#!/usr/bin/env python3
"""A stub AWS Lambda Runtime API for cold-start measurement (loopback only).

Implements just enough of https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
for a runtime to finish its init phase:

* ``GET /2018-06-01/runtime/invocation/next`` - records ``time.monotonic()`` when the
  request arrives, then *holds the connection open without answering* until the stub is
  closed (or ``hold_timeout`` passes). The runtime under test therefore sits in its
  "waiting for the first event" state until the harness kills it.
* ``POST /2018-06-01/runtime/init/error`` - records the failure (error type header and
  body) and answers 202.
* ``POST /2018-06-01/runtime/invocation/<id>/(response|error)`` - answered 202 and
  recorded (never expected: no invocation is ever handed out).
* anything else - 404, recorded under ``unexpected``.

The arrival times come from the same ``time.monotonic()`` clock as the harness in the
same process (``coldstart.py`` imports this module), so ``init = next_at - t0`` needs
no clock translation.

Library use::

    with RuntimeStub() as stub:
        env["AWS_LAMBDA_RUNTIME_API"] = stub.address   # "127.0.0.1:<port>"
        ...spawn the runtime...
        if stub.wait(timeout=10):                       # /next or init/error arrived
            print(stub.first_next_at, stub.init_errors)

CLI (manual poking; logs every request, Ctrl-C to stop)::

    python3 infra/bench/runtime_stub.py [--port N]
"""

from __future__ import annotations

import argparse
import http.server
import sys
import threading
import time
from dataclasses import dataclass, field

API_PREFIX = "/2018-06-01/runtime"
NEXT_PATH = API_PREFIX + "/invocation/next"
INIT_ERROR_PATH = API_PREFIX + "/init/error"
MAX_BODY = 1 << 20  # bytes of a POST body we read and keep


@dataclass
class InitError:
    at: float  # time.monotonic() on arrival
    error_type: str  # Lambda-Runtime-Function-Error-Type header, if any
    body: str


@dataclass
class StubState:
    """What the stub saw. Written by handler threads, read by the harness."""

    next_arrivals: list[float] = field(default_factory=list)
    init_errors: list[InitError] = field(default_factory=list)
    other_posts: list[tuple[float, str]] = field(default_factory=list)
    unexpected: list[tuple[float, str, str]] = field(default_factory=list)  # (at, method, path)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    # Keep stderr clean; the CLI installs its own logger via server.log.
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def _reply(self, code: int, body: bytes = b"") -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        data = self.rfile.read(min(length, MAX_BODY)) if length > 0 else b""
        if length > MAX_BODY:
            self.close_connection = True  # we did not drain it
        return data

    def do_GET(self) -> None:  # noqa: N802
        now = time.monotonic()
        path = self._path()
        stub = self.server.stub
        if path == NEXT_PATH:
            with stub._lock:
                stub.state.next_arrivals.append(now)
            stub._log(f"GET {path} (held open)")
            stub._arrived.set()
            # Hold: never answer. Return (closing the socket) only when the stub closes
            # or the hold times out, so a handler thread can never outlive it for long.
            stub._release.wait(stub.hold_timeout)
            self.close_connection = True
            return
        with stub._lock:
            stub.state.unexpected.append((now, "GET", path))
        stub._log(f"GET {path} -> 404")
        self._reply(404, b'{"errorMessage":"not implemented by runtime_stub"}')

    def do_POST(self) -> None:  # noqa: N802
        now = time.monotonic()
        path = self._path()
        stub = self.server.stub
        body = self._read_body()
        if path == INIT_ERROR_PATH:
            err = InitError(
                at=now,
                error_type=self.headers.get("Lambda-Runtime-Function-Error-Type", ""),
                body=body.decode("utf-8", "replace"),
            )
            with stub._lock:
                stub.state.init_errors.append(err)
            stub._log(f"POST {path} type={err.error_type!r} body={err.body[:200]!r}")
            self._reply(202, b'{"status":"OK"}')
            stub._arrived.set()
            return
        if path.startswith(API_PREFIX + "/invocation/") and path.rsplit("/", 1)[-1] in ("response", "error"):
            with stub._lock:
                stub.state.other_posts.append((now, path))
            stub._log(f"POST {path} -> 202")
            self._reply(202, b'{"status":"OK"}')
            return
        with stub._lock:
            stub.state.unexpected.append((now, "POST", path))
        stub._log(f"POST {path} -> 404")
        self._reply(404, b'{"errorMessage":"not implemented by runtime_stub"}')


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True  # a stuck handler never keeps the interpreter alive
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64
    stub: "RuntimeStub"


class RuntimeStub:
    """One stub server on 127.0.0.1:<port> (port 0 = pick a free one)."""

    def __init__(self, port: int = 0, hold_timeout: float = 60.0, log=None) -> None:
        self.hold_timeout = hold_timeout
        self.state = StubState()
        self._lock = threading.Lock()
        self._arrived = threading.Event()  # first /next or init/error
        self._release = threading.Event()  # lets held /next handlers return
        self._logger = log
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.stub = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # bounds how long close() waits for the loop
            name=f"runtime-stub-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._closed = False

    # -- information -------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def address(self) -> str:
        """Value for AWS_LAMBDA_RUNTIME_API."""
        return f"127.0.0.1:{self.port}"

    @property
    def first_next_at(self) -> float | None:
        with self._lock:
            return self.state.next_arrivals[0] if self.state.next_arrivals else None

    @property
    def init_errors(self) -> list[InitError]:
        with self._lock:
            return list(self.state.init_errors)

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the first /next or init/error; True if one came."""
        return self._arrived.wait(timeout)

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Release held connections, stop serving and close the socket. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._release.set()
        self._server.shutdown()  # returns within ~poll_interval
        self._server.server_close()
        self._thread.join(timeout=2.0)

    def __enter__(self) -> "RuntimeStub":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _log(self, msg: str) -> None:
        if self._logger is not None:
            self._logger(msg)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    args = ap.parse_args(argv)

    t_start = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{(time.monotonic() - t_start) * 1000:10.3f} ms] {msg}", flush=True)

    stub = RuntimeStub(port=args.port, hold_timeout=24 * 3600.0, log=log)
    print(f"AWS_LAMBDA_RUNTIME_API={stub.address}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stub.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
