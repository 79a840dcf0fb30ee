#!/usr/bin/env python3
"""moto's server, with DynamoDB requests applied one at a time.

Real DynamoDB evaluates a conditional write atomically; moto's threaded server does not (two
concurrent `PutItem ... attribute_not_exists(pk)` can both succeed), which would make the
gateway's dedup tests measure the emulator instead of the code. Serializing DynamoDB calls gives
the emulator DynamoDB's per-item atomicity; every other service stays concurrent (SQS long polls
must not block the rest).

Usage: moto_server.py -H 127.0.0.1 -p 4566   (the same flags as moto_server)
"""

import argparse
import os
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def serialized_dynamodb(app):
    lock = threading.Lock()

    def wrapped(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with lock:
                # Materialize the body inside the lock: the write happens while it is built.
                return list(app(environ, start_response))
        return app(environ, start_response)

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
