"""W2 reference: Locust with 10 users running the same TCP task.

Run by bench/run.py as: locust -f churn_locust.py --headless -u 10 -r 10 -t 20s
(and with --processes -1 for W2 on all cores). Locust users are gevent
greenlets; a TCP task is written with gevent's socket, as Locust's
documentation suggests for non-HTTP protocols. Each task is reported as a
request, so that with --processes the master's merged statistics count the
tasks of every worker process.
"""

import json
import os
import time

from gevent import socket
from locust import User, events, task
from locust.runners import WorkerRunner

MESSAGE = b"x" * 64


class TcpUser(User):
    @task
    def churn(self) -> None:
        started = time.perf_counter()
        s = socket.create_connection((os.environ["TCP_ECHO_HOST"], int(os.environ["TCP_ECHO_PORT"])))
        got = 0
        try:
            s.sendall(MESSAGE)
            while got < len(MESSAGE):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += len(chunk)
        finally:
            s.close()
        self.environment.events.request.fire(
            request_type="tcp", name="churn", response_time=(time.perf_counter() - started) * 1000,
            response_length=got, exception=None, context={},
        )


@events.quitting.add_listener
def report(environment, **_kwargs) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return  # the master reports for every worker
    total = environment.stats.total
    seconds = (total.last_request_timestamp or total.start_time) - total.start_time
    print("RESULT " + json.dumps({"iterations": total.num_requests, "seconds": seconds}), flush=True)
