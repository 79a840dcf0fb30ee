#!/usr/bin/env python3
"""moto's server, with DynamoDB puts to one table applied one at a time.

Real DynamoDB evaluates a conditional write atomically; moto's threaded server does not (two
concurrent `PutItem ... attribute_not_exists(pk)` can both succeed), which would make the
gateway's dedup tests measure the emulator instead of the code. Serializing the puts of each
table gives the claims DynamoDB's atomicity; reads, updates, other tables (every test has its
own) and every other service stay concurrent.

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


# Conditional puts are the dedup claims, where two concurrent winners would be a test failure
# about moto rather than the code. (Serializing every write was tried: 50 concurrent lease
# updates then queued past the SDK's 2.5 s timeout.)
WRITES = {"PutItem"}


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
            table = json.loads(body or b"{}").get("TableName") or "*multi-table*"
        except ValueError:
            table = "*unparsed*"
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
