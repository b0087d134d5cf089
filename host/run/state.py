"""What every VU of one run shares: the test's own state (core counters,
stop flags, metrics, groups) and each module's root."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from k6host.modules.registry import Roots, load_registry
from k6host.net.netconfig import NetConfig
from k6host.report.log import Log
from k6host.run.groups import GroupTree
from k6host.run.metrics import Metrics
from k6host.run.segments import WHOLE, Tuple
from k6host.vu.hub import Hub


@dataclass
class TestState:
    """What every VU of one run shares."""

    script: str
    env: dict[str, str]
    log: Log
    metrics: Metrics = field(default_factory=Metrics)
    net: NetConfig = field(default_factory=NetConfig)  # what the options say about reaching hosts
    groups: GroupTree = field(default_factory=GroupTree)
    options: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    failed: bool = False
    errors: list[str] = field(default_factory=list)  # iterations that ended in an exception
    fail_calls: list[tuple[str, str]] = field(default_factory=list)  # test.fail(): (reason, caller's stack frame)
    abort_reason: str | None = None
    # Set to end every iteration now (test.abort, a second Ctrl-C, a hard stop).
    stop: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    iterations_completed: int = 0
    iterations_interrupted: int = 0
    vus_active: int = 0
    vus_initialized: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    hub: Hub = field(default_factory=Hub)  # where the VUs of the run take turns (vu/hub.py)
    compatibility_mode: str = "extended"  # k6's: "base" has no `global` alias of globalThis
    segment: Tuple = WHOLE  # this instance's execution segment: its VUs' numbers in the test
    # A worker process of one split run (run/processes.py): its numbers are the run's, as in one process.
    split_run: bool = False

    module_path: tuple[str, ...] = ()  # folders of modules beside the installed ones
    modules: Roots = field(init=False)  # each module's root (modules/registry.py)

    def __post_init__(self) -> None:
        self.modules = Roots(load_registry(self.module_path), self)

    def count(self, attribute: str, delta: int = 1) -> None:
        with self.lock:
            setattr(self, attribute, getattr(self, attribute) + delta)

