"""k6's executors: when each VU starts an iteration of a scenario.

Each scenario runs in its own thread (``Executor.run``), takes VUs from the
shared pool, and hands them jobs that run on the VUs (greenlets on the run's
hub thread: see vu/hub.py and vu/workers.py). Stopping
follows k6: when a scenario's time is up no iteration starts, and the ones
in flight get ``gracefulStop`` (``gracefulRampDown`` for VUs a ramp retires)
before they are interrupted.
"""

from __future__ import annotations

from k6host.run.executors.base import Executor, VUPool
from k6host.run.executors.constant_arrival_rate import ConstantArrivalRate
from k6host.run.executors.constant_vus import ConstantVUs
from k6host.run.executors.per_vu_iterations import PerVUIterations
from k6host.run.executors.ramping_arrival_rate import RampingArrivalRate
from k6host.run.executors.ramping_vus import RampingVUs
from k6host.run.executors.shared_iterations import SharedIterations

# By the name scenarios give in `executor`: one class, one file each.
EXECUTORS: dict[str, type[Executor]] = {
    cls.kind: cls
    for cls in (SharedIterations, PerVUIterations, ConstantVUs, RampingVUs, ConstantArrivalRate, RampingArrivalRate)
}

__all__ = ["EXECUTORS", "Executor", "VUPool"]
