"""W2 reference: Locust with 10 users running the same TCP task.

Run by bench/run.py as: locust -f churn_locust.py --headless -u 10 -r 10 -t 20s
Locust users are gevent greenlets; a TCP task is written with gevent's
socket, as Locust's documentation suggests for non-HTTP protocols.
"""

import json
import os
import time

from gevent import socket
from locust import User, events, task

MESSAGE = b"x" * 64
COUNT = {"n": 0, "started": None}


class TcpUser(User):
    @task
    def churn(self) -> None:
        if COUNT["started"] is None:
            COUNT["started"] = time.monotonic()
        s = socket.create_connection((os.environ["TCP_ECHO_HOST"], int(os.environ["TCP_ECHO_PORT"])))
        try:
            s.sendall(MESSAGE)
            got = 0
            while got < len(MESSAGE):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += len(chunk)
        finally:
            s.close()
        COUNT["n"] += 1


@events.quitting.add_listener
def report(environment, **_kwargs) -> None:
    seconds = time.monotonic() - (COUNT["started"] or time.monotonic())
    print("RESULT " + json.dumps({"iterations": COUNT["n"], "seconds": seconds}), flush=True)
