#!/usr/bin/env python3
"""moto's server, with the conditional DynamoDB writes to one table applied one at a time.

Real DynamoDB evaluates a conditional write atomically; moto's threaded server does not (two
concurrent `PutItem ... attribute_not_exists(pk)` can both succeed, and so can two
`UpdateItem ... version = :v` lease takes), which would make the gateway's dedup and lease tests
measure the emulator instead of the code. Serializing the conditional writes of each table gives
the claims and leases DynamoDB's atomicity; reads, unconditional writes, other tables (every
test has its own) and every other service stay concurrent.

Usage: moto_server.py -H 127.0.0.1 -p 4566   (the same flags as moto_server)
"""

import argparse
import io
import json
import os
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


# Writes that can carry a condition: the dedup claims (PutItem), the refresh and processing
# leases (UpdateItem), the conditional deletes. Two concurrent winners of one condition would be a
# test failure about moto rather than the code. Only the calls that carry a condition take the
# lock. moto spends 35-280 ms on one conditional update on 2 busy cores, so 50 of them queued on
# one item pass the SDK's 2.5 s timeout: the vault's in-process turns keep a burst of callers to
# one lease attempt per process, as a deployed gateway should.
WRITES = {"PutItem", "UpdateItem", "DeleteItem"}


def is_conditional(request: dict) -> bool:
    return "ConditionExpression" in request or "Expected" in request


def serialized_dynamodb(app):
    guard = threading.Lock()
    locks: dict[str, threading.Lock] = {}

    def lock_for(table: str) -> threading.Lock:
        with guard:
            return locks.setdefault(table, threading.Lock())

    def wrapped(environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        service, _, operation = target.partition(".")
        if not service.startswith("DynamoDB") or operation not in WRITES:
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = {}
        if not is_conditional(request):
            return app(environ, start_response)
        table = request.get("TableName") or "*unnamed*"
        with lock_for(table):
            # Materialize the response inside the lock: the write happens while it is built.
            return list(app(environ, start_response))

    return wrapped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=4566)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialized_dynamodb(app), threaded=True,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
