"""Test options as ``k6 run`` consolidates them, and the scenarios it derives.

Sources, lowest precedence first: the JSON config file (``--config``,
``K6_CONFIG`` or ``~/.config/k6/config.json``), the script's ``options``
export, ``K6_*`` environment variables, command-line flags. A source that sets
any of ``duration``, ``iterations``, ``stages`` or ``scenarios`` replaces all
four from the sources below it; ``vus`` is kept. After merging, the shortcut
options become a scenario named ``default`` exactly as k6 derives it, and
everything is validated with k6's rules and messages.

Durations are kept in nanoseconds while merging (k6 keeps Go durations) and
exposed as seconds. ``Options.raw`` is the merged options in the shape
``exec.test.options`` shows in k6, nulls included.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Callable, Collection, Mapping, NamedTuple

from k6host.run.exitcodes import ExitCode
from k6host.run.durations import (
    SECOND,
    DurationError,
    format_ns,
    go_parse_duration,
    json_duration_ns,
    parse_extended,
)
from k6host.net import dnsconfig
from k6host.run.metrics import DEFAULT_TREND_STATS
from k6host.run.segments import WHOLE, Segment, SegmentError, SegmentedIndex, Tuple, parse_sequence, sequence_string


DEFAULT_SYSTEM_TAGS = [
    "check", "error", "error_code", "expected_response", "group", "method", "name",
    "proto", "scenario", "service", "status", "subproto", "tls_version", "url",
]
# Every tag k6 calls a system tag; vu, iter, ip and ocsp_status are off unless systemTags names them.
ALL_SYSTEM_TAGS = frozenset(DEFAULT_SYSTEM_TAGS) | {"vu", "iter", "ip", "ocsp_status"}
SHORTCUTS = ("duration", "iterations", "stages", "scenarios")
_MIN_DURATION = SECOND
_MAX_VUS = 100_000_000
_SCENARIO_NAME = re.compile(r"[0-9a-zA-Z_-]+")
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_PERCENTILE = re.compile(r"p\((.*)\)", re.DOTALL)


class OptionsError(ValueError):
    """An option k6 would refuse; the message names it, ``exit_code`` is k6's."""

    def __init__(self, message: str, exit_code: int = ExitCode.INVALID_CONFIG):
        super().__init__(message)
        self.exit_code = exit_code


def parse_duration(value: Any, name: str) -> float:
    """Seconds, from a k6 duration (``"1h2m3s"``, ``"1d"``) or a number of milliseconds."""
    return _duration(value, name) / SECOND


# -- JSON values, as k6's Go types read them ------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _int(value: Any, name: str) -> int:
    # null.Int takes JSON integers and strings holding one.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        return int(value)
    raise OptionsError(f"invalid {name}: expected an integer, got {_dumps(value)}")


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    raise OptionsError(f"invalid {name}: expected true or false, got {_dumps(value)}")


def _str(value: Any, name: str) -> str:
    if isinstance(value, str):
        return value
    raise OptionsError(f"invalid {name}: expected a string, got {_dumps(value)}")


def _segment(value: Any, name: str) -> str:
    """executionSegment: ``a:b`` or ``b`` (fractions, decimals, percentages); kept in k6's form."""
    try:
        return str(Segment.parse(_str(value, name)))
    except SegmentError as exc:
        raise OptionsError(str(exc)) from None


def _sequence(value: Any, name: str) -> str:
    """executionSegmentSequence: comma-separated points from 0 to 1."""
    try:
        return sequence_string(parse_sequence(_str(value, name)))
    except SegmentError as exc:
        raise OptionsError(str(exc)) from None


def _duration(value: Any, name: str) -> int:
    try:
        return json_duration_ns(value)
    except DurationError as exc:
        raise OptionsError(f"invalid {name}: {exc}") from None


def _strings(value: Any, name: str) -> list[str]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise OptionsError(f"invalid {name}: expected a list of strings, got {_dumps(value)}")


def _string_map(value: Any, name: str) -> dict[str, str]:
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return dict(value)
    raise OptionsError(f"invalid {name}: expected an object of strings, got {_dumps(value)}")


def _object(value: Any, name: str) -> dict:
    if isinstance(value, dict):
        return value
    raise OptionsError(f"invalid {name}: expected an object, got {_dumps(value)}")


def _objects(value: Any, name: str) -> list[dict]:
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return value
    raise OptionsError(f"invalid {name}: expected a list of objects, got {_dumps(value)}")


def _string_or_object(value: Any, name: str) -> str | dict:
    if isinstance(value, (str, dict)):
        return value
    raise OptionsError(f"invalid {name}: expected a string or an object, got {_dumps(value)}")


def _cidrs(value: Any, name: str) -> list[str]:
    ranges = _strings(value, name)
    for text in ranges:
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise OptionsError(f"invalid {name}: failed to parse CIDR '{text}'") from None
    return ranges


def _dns(value: Any, name: str) -> dict[str, Any]:
    try:
        return dnsconfig.check(_object(value, name))
    except dnsconfig.DnsError as exc:
        raise OptionsError(str(exc), ExitCode.GENERIC_ERROR if exc.bad_ttl else ExitCode.INVALID_CONFIG) from None


class Stage(NamedTuple):
    duration: int | None  # nanoseconds; None when the stage has none
    target: int | None


def _stages(value: Any, name: str, strict: bool) -> list[Stage]:
    if not isinstance(value, list):
        raise OptionsError(f"invalid {name}: expected a list of {{duration, target}} objects, got {_dumps(value)}")
    stages = []
    for i, item in enumerate(value):
        where = f"{name}[{i}]"
        item = _object(item, where)
        if strict:
            _refuse_unknown(item, ("duration", "target"), where)
        duration, target = item.get("duration"), item.get("target")
        stages.append(Stage(
            None if duration is None else _duration(duration, f"{where}.duration"),
            None if target is None else _int(target, f"{where}.target"),
        ))
    return stages


def _refuse_unknown(obj: dict, known: Collection[str], name: str) -> None:
    for key in obj:
        if key not in known:
            raise OptionsError(f"invalid {name}: unknown field {_dumps(key)}")


def _thresholds(value: Any, name: str) -> dict[str, list[str | dict]]:
    """Checked as k6 unmarshals them; the expressions are parsed by thresholds.py."""
    config = _object(value, name)
    for metric, items in config.items():
        where = f"{name}[{_dumps(metric)}]"
        if not isinstance(items, list):
            raise OptionsError(f"invalid {where}: expected a list of thresholds, got {_dumps(items)}")
        for i, item in enumerate(items):
            if isinstance(item, str):
                continue
            if not isinstance(item, dict):
                raise OptionsError(f"invalid {where}[{i}]: expected a string or an object, got {_dumps(item)}")
            for key, check in (("threshold", _str), ("abortOnFail", _bool), ("delayAbortEval", _duration)):
                if item.get(key) is not None:
                    check(item[key], f"{where}[{i}].{key}")
    return config


# -- scenarios ---------------------------------------------------------------------------

_BASE_FIELDS = ("executor", "startTime", "gracefulStop", "env", "exec", "tags", "options")
# Each executor's own fields, in the order k6 prints them.
_FIELDS: dict[str, tuple[str, ...]] = {
    "shared-iterations": ("vus", "iterations", "maxDuration"),
    "per-vu-iterations": ("vus", "iterations", "maxDuration"),
    "constant-vus": ("vus", "duration"),
    "ramping-vus": ("startVUs", "stages", "gracefulRampDown"),
    "constant-arrival-rate": ("rate", "timeUnit", "duration", "preAllocatedVUs", "maxVUs"),
    "ramping-arrival-rate": ("startRate", "timeUnit", "stages", "preAllocatedVUs", "maxVUs"),
}
_FIELD_TYPES: dict[str, Callable[[Any, str], Any]] = {
    "startTime": _duration, "gracefulStop": _duration, "env": _string_map, "exec": _str, "tags": _string_map,
    "options": _object, "vus": _int, "iterations": _int, "maxDuration": _duration, "duration": _duration,
    "startVUs": _int, "gracefulRampDown": _duration, "rate": _int, "timeUnit": _duration,
    "preAllocatedVUs": _int, "maxVUs": _int, "startRate": _int,
    "stages": lambda value, name: _stages(value, name, strict=True),
}


# k6's JSON field -> Scenario attribute.
_SECONDS_ATTRIBUTES = {
    "startTime": "start_time", "gracefulStop": "graceful_stop", "maxDuration": "max_duration",
    "duration": "duration", "gracefulRampDown": "graceful_ramp_down", "timeUnit": "time_unit",
}
_PLAIN_ATTRIBUTES = {
    "exec": "exec", "env": "env", "tags": "tags", "vus": "vus", "iterations": "iterations",
    "startVUs": "start_vus", "rate": "rate", "startRate": "start_rate",
    "preAllocatedVUs": "pre_allocated_vus", "maxVUs": "max_vus",
}


class Step(NamedTuple):
    """From ``offset`` seconds on, this many VUs are planned (and may be added on demand)."""

    offset: float
    planned: int
    unplanned: int = 0


@dataclass
class Scenario:
    """One scenario with k6's defaults filled in; times in seconds.

    ``given`` holds the fields the configuration actually set (durations in
    nanoseconds), which is what k6 prints and validates against.
    """

    name: str
    executor: str
    exec: str = "default"
    env: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    start_time: float = 0.0
    graceful_stop: float = 30.0
    vus: int = 1
    iterations: int = 1
    duration: float = 0.0
    max_duration: float = 600.0
    start_vus: int = 1
    stages: list[tuple[float, int]] = field(default_factory=list)
    graceful_ramp_down: float = 30.0
    rate: int = 0
    time_unit: float = 1.0
    start_rate: int = 0
    pre_allocated_vus: int = 0
    max_vus: int = 0
    given: dict[str, Any] = field(default_factory=dict, repr=False)
    # This instance's execution segment; the counts above are its share (see segmented()).
    et: Tuple = field(default=WHOLE, repr=False, compare=False)
    unscaled: Scenario | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_given(cls, name: str, executor: str, given: dict[str, Any]) -> Scenario:
        """The scenario k6 builds from the fields given (k6 JSON names, durations in ns)."""
        scenario = cls(name, executor, given=given)
        for key, value in given.items():
            if key in _SECONDS_ATTRIBUTES:
                setattr(scenario, _SECONDS_ATTRIBUTES[key], value / SECOND)
            elif key in _PLAIN_ATTRIBUTES:
                setattr(scenario, _PLAIN_ATTRIBUTES[key], value)
        scenario.exec = scenario.exec or "default"  # k6 runs the default function for exec: ""
        scenario.stages = [((s.duration or 0) / SECOND, s.target or 0) for s in given.get("stages", [])]
        if "maxVUs" not in given:
            scenario.max_vus = scenario.pre_allocated_vus
        return scenario

    # -- k6's validation ------------------------------------------------------------------
    def errors(self) -> list[str]:
        """What k6 reports for this scenario, in k6's order and words."""
        g = self.given
        errors = []
        if not self.name:
            errors.append("scenario name can't be empty")
        if not _SCENARIO_NAME.fullmatch(self.name):
            errors.append("the scenario name should contain only numbers, latin letters, underscores, and dashes")
        if "exec" in g and not g["exec"]:
            errors.append("exec value cannot be empty")
        if g.get("startTime", 0) < 0:
            errors.append("the startTime can't be negative")
        if g.get("gracefulStop", 0) < 0:
            errors.append("the gracefulStop timeout can't be negative")
        kind = self.executor
        if kind in ("shared-iterations", "per-vu-iterations"):
            if self.vus <= 0:
                errors.append("the number of VUs must be more than 0")
            if kind == "shared-iterations" and self.iterations < self.vus:
                errors.append(
                    f"the number of iterations ({self.iterations}) can't be less than the number of VUs ({self.vus})"
                )
            if kind == "per-vu-iterations" and self.iterations <= 0:
                errors.append("the number of iterations must be more than 0")
            errors += self._min_duration("maxDuration")
        elif kind == "constant-vus":
            if self.vus <= 0:
                errors.append("the number of VUs must be more than 0")
            errors += self._min_duration("duration")
        elif kind == "ramping-vus":
            if self.start_vus < 0:
                errors.append("the number of start VUs can't be negative")
            if max([self.start_vus] + [t for _, t in self.stages]) <= 0:
                errors.append("either startVUs or one of the stages' target values must be greater than 0")
            errors += self._stage_errors()
            if self.start_vus > _MAX_VUS:
                errors.append(f"the startVUs exceed max limit of {_MAX_VUS}")
            errors += [
                f"target for stage {i} exceeds max limit of {_MAX_VUS}"
                for i, (_, target) in enumerate(self.stages, 1) if target > _MAX_VUS
            ]
        else:  # the arrival-rate executors
            if kind == "constant-arrival-rate":
                if "rate" not in g:
                    errors.append("the iteration rate isn't specified")
                elif self.rate <= 0:
                    errors.append("the iteration rate must be more than 0")
            elif self.start_rate < 0:
                errors.append("the startRate value can't be negative")
            if self.time_unit <= 0:
                errors.append("the timeUnit must be more than 0")
            errors += self._min_duration("duration") if kind == "constant-arrival-rate" else self._stage_errors()
            if "preAllocatedVUs" not in g:
                errors.append("the number of preAllocatedVUs isn't specified")
            elif self.pre_allocated_vus < 0:
                errors.append("the number of preAllocatedVUs can't be negative")
            if "maxVUs" in g and self.max_vus < self.pre_allocated_vus:
                errors.append("maxVUs can't be less than preAllocatedVUs")
        return errors

    def _min_duration(self, key: str) -> list[str]:
        if key == "duration" and key not in self.given:
            return ["the duration is unspecified"]
        value = self.given.get(key, 600 * SECOND)
        if value < _MIN_DURATION:
            return [f"the {key} must be at least 1s, but is {format_ns(value)}"]
        return []

    def _stage_errors(self) -> list[str]:
        stages = self.given.get("stages", [])
        if not stages:
            return ["at least one stage has to be specified"]
        errors = []
        for i, stage in enumerate(stages, 1):
            if stage.duration is None:
                errors.append(f"stage {i} doesn't have a duration")
            elif stage.duration < 0:
                errors.append(f"the duration for stage {i} can't be negative")
            if stage.target is None:
                errors.append(f"stage {i} doesn't have a target")
            elif stage.target < 0:
                errors.append(f"the target for stage {i} can't be negative")
        return errors

    def segmented(self, et: Tuple) -> Scenario:
        """This scenario as the instance running segment ``et`` runs it: k6 scales
        the VUs (and shared iterations) of each executor, the rest stays the test's."""
        if et.whole:
            return self
        scaled = replace(self, et=et, unscaled=self)
        kind = self.executor
        if kind in ("shared-iterations", "per-vu-iterations", "constant-vus"):
            scaled.vus = et.scale(self.vus)
        if kind == "shared-iterations":
            # The iterations are split the way the VUs are (k6's GetIterations).
            try:
                scaled.iterations = et.for_value(self.vus).scale(self.iterations)
            except SegmentError:
                scaled.iterations = 0
        if kind in ("constant-arrival-rate", "ramping-arrival-rate"):
            scaled.pre_allocated_vus = et.scale(self.pre_allocated_vus)
            scaled.max_vus = et.scale(self.max_vus)
        return scaled

    def iteration_tuple(self) -> Tuple | None:
        """Whose iterations are whose: shared-iterations splits them by VUs, the arrival
        rates by maxVUs (k6's Init), the others as the test's segment; None: no work here."""
        base = self.unscaled or self
        try:
            if self.executor == "shared-iterations":
                return self.et.for_value(base.vus)
            if self.executor in ("constant-arrival-rate", "ramping-arrival-rate"):
                return self.et.for_value(base.max_vus)
        except SegmentError:
            return None
        return self.et

    # -- how many VUs, for how long ------------------------------------------------------------
    def requirements(self) -> list[Step]:
        """k6's execution requirements: VUs needed over time, relative to ``start_time``,
        graceful stop and ramp-down included. Empty when the scenario has no work."""
        return [Step(t / SECOND, planned, unplanned) for t, planned, unplanned in self._requirements_ns()]

    def _requirements_ns(self) -> list[tuple[int, int, int]]:
        stop = _ns(self.graceful_stop)
        if self.executor in ("shared-iterations", "per-vu-iterations"):
            if self.vus <= 0 or self.iterations <= 0:
                return []
            return [(0, self.vus, 0), (_ns(self.max_duration) + stop, 0, 0)]
        if self.executor == "constant-vus":
            return [(0, self.vus, 0), (_ns(self.duration) + stop, 0, 0)] if self.vus > 0 else []
        if self.executor == "ramping-vus":
            steps = [(t, vus, 0) for t, vus in self._ramping_requirements()]
            return steps if max(vus for _, vus, _ in steps) > 0 else []
        most = max(self.max_vus, self.pre_allocated_vus)
        if most <= 0:
            return []
        length = _ns(self.duration) if self.executor == "constant-arrival-rate" else self._stages_ns()
        return [(0, self.pre_allocated_vus, most - self.pre_allocated_vus), (length + stop, 0, 0)]

    def max_vus_needed(self) -> int:
        """The most VUs this scenario can use at once (k6's "max VUs" for it alone)."""
        return max((s.planned + s.unplanned for s in self.requirements()), default=0)

    def total_duration(self) -> float:
        """Seconds from the test start to this scenario's end, startTime and graceful stop included."""
        steps = self.requirements()
        return self.start_time + steps[-1].offset if steps else 0.0

    def vu_steps(self) -> list[tuple[float, int]]:
        """ramping-vus only: how many VUs should be running from each offset on (seconds),
        before graceful ramp-downs; the last step has 0 VUs at the end of the stages."""
        steps = self._ramping_raw_steps()
        if steps[-1][1] != 0:
            steps.append((self._stages_ns(), 0))
        return [(t / SECOND, vus) for t, vus in steps]

    def _stages_ns(self) -> int:
        return sum(_ns(d) for d, _ in self.stages)

    def _ramping_raw_steps(self) -> list[tuple[int, int]]:
        """k6's getRawExecutionSteps: this instance's VUs over time. With an execution
        segment, a VU starts or stops when the test-wide VU it stands for would."""
        index = SegmentedIndex(self.et)
        scaled, unscaled = index.go_to(self.start_vus)
        steps = [(0, scaled)]

        def add(offset: int, vus: int) -> None:
            if steps[-1][1] != vus:
                steps.append((offset, vus))

        end, source = 0, self.start_vus
        for seconds, target in self.stages:
            length = _ns(seconds)
            end += length
            diff = target - source
            if diff == 0:
                continue
            if length == 0:
                scaled, unscaled = index.go_to(target)
                add(end, scaled)
            elif unscaled > target:  # ramping down: a VU stops when the next one would
                while unscaled > target:
                    add(end - _go_div(length * (target - unscaled + 1), diff), scaled - 1)
                    scaled, unscaled = index.prev()
            else:
                while unscaled <= target:
                    add(end - _go_div(length * (target - unscaled), diff), scaled)
                    scaled, unscaled = index.next()
            source = target
        return steps

    def _ramping_requirements(self) -> list[tuple[int, int]]:
        end = self._stages_ns() + _ns(self.graceful_stop)
        steps = self._ramping_raw_steps()
        if self.graceful_ramp_down > 0:
            steps = _reserve_for_ramp_downs(steps, _ns(self.graceful_ramp_down), end)
        if steps[-1][1] != 0:
            steps.append((end, 0))
        return steps

    # -- k6's JSON ----------------------------------------------------------------------------
    def to_k6(self) -> dict[str, Any]:
        """The scenario as ``exec.test.options.scenarios`` shows it: unset fields are null."""
        out: dict[str, Any] = {"executor": self.executor}
        for key in _BASE_FIELDS[1:] + _FIELDS[self.executor]:
            if key == "options" and key not in self.given:
                continue  # k6 omits it when empty
            out[key] = _k6_value(key, self.given.get(key))
        return out


def _ns(seconds: float) -> int:
    return round(seconds * SECOND)


def _go_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as Go's."""
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b > 0) else -quotient


def _reserve_for_ramp_downs(raw: list[tuple[int, int]], grace: int, end: int) -> list[tuple[int, int]]:
    """k6's reserveVUsForGracefulRampDowns: ramping-down VUs stay reserved for ``grace``."""
    steps: list[tuple[int, int]] = []
    last = 0
    last_down = 0
    i = 0
    while i < len(raw):
        offset, vus = raw[i]
        if i == 0 or vus > last:
            steps.append((offset, vus))
            last = vus
            i += 1
            continue
        if vus == last:
            i += 1
            continue
        timeout = offset + grace
        resumed = False
        going_down = True
        for j in range(max(last_down, i + 1), len(raw)):
            if raw[j][0] > timeout:
                break
            if raw[j][1] >= last:
                i = j  # a new rise within the grace period: nothing to reserve
                resumed = True
                break
            if going_down:
                if raw[j - 1][1] > raw[j][1]:
                    last_down = j
                else:
                    going_down = False
        if resumed:
            continue
        if timeout >= end:
            break
        steps.append((timeout, vus))
        last = vus
        i += 1
    return steps


_DURATION_KEYS = {
    "startTime", "gracefulStop", "maxDuration", "duration", "gracefulRampDown", "timeUnit",
    "setupTimeout", "teardownTimeout", "minIterationDuration",
}


def _k6_value(key: str, value: Any) -> Any:
    """A merged value as k6 prints it: durations as Go strings."""
    if value is None:
        return None
    if key == "stages":
        return [
            {"duration": None if s.duration is None else format_ns(s.duration), "target": s.target} for s in value
        ]
    if key in _DURATION_KEYS:
        return format_ns(value)
    return value



def _scenarios(value: Any, name: str) -> dict[str, Scenario]:
    scenarios = {}
    for scenario_name, config in _object(value, name).items():
        where = f"{name}.{scenario_name}"
        config = _object(config, where)
        executor = config.get("executor")
        if executor is None or executor == "":
            raise OptionsError(f"scenario '{scenario_name}' doesn't have a specified executor type")
        executor = _str(executor, f"{where}.executor")
        if executor == "externally-controlled":
            raise OptionsError(
                f"scenario '{scenario_name}': the externally-controlled executor is not supported by k6host"
            )
        if executor not in _FIELDS:
            raise OptionsError(f"unknown executor type '{executor}' in scenario '{scenario_name}'")
        known = _BASE_FIELDS + _FIELDS[executor]
        _refuse_unknown(config, known, where)
        given = {}
        for key in known[1:]:
            if config.get(key) is not None:
                given[key] = _FIELD_TYPES[key](config[key], f"{where}.{key}")
        if "options" in given:
            _refuse_unknown(given["options"], ("browser",), f"{where}.options")
        scenarios[scenario_name] = Scenario.from_given(scenario_name, executor, given)
    return scenarios


# -- options, source by source ----------------------------------------------------------------

# Script and config-file options: k6 JSON name -> reader. A reader gets (value, name).
_OPTION_TYPES: dict[str, Callable[[Any, str], Any]] = {
    "paused": _bool, "vus": _int, "duration": _duration, "iterations": _int,
    "stages": lambda value, name: _stages(value, name, strict=False),
    "scenarios": _scenarios, "executionSegment": _segment, "executionSegmentSequence": _sequence,
    "noSetup": _bool, "setupTimeout": _duration, "noTeardown": _bool, "teardownTimeout": _duration,
    "rps": _int, "dns": _dns, "maxRedirects": _int, "userAgent": _str, "batch": _int, "batchPerHost": _int,
    "httpDebug": _str, "insecureSkipTLSVerify": _bool, "tlsCipherSuites": _strings,
    "tlsVersion": _string_or_object, "tlsAuth": _objects, "throw": _bool, "thresholds": _thresholds,
    "blacklistIPs": _cidrs, "blockHostnames": _strings, "hosts": _string_map, "noConnectionReuse": _bool,
    "noVUConnectionReuse": _bool, "minIterationDuration": _duration, "ext": _object,
    "summaryTrendStats": _strings, "summaryTimeUnit": _str, "systemTags": _strings, "tags": _string_map,
    "metricSamplesBufferSize": _int, "noCookiesReset": _bool, "discardResponseBodies": _bool,
}
# The keys of exec.test.options, in k6's order (the shortcuts are not among them).
_RAW_KEYS = (
    "paused", "scenarios", "executionSegment", "executionSegmentSequence", "noSetup", "setupTimeout",
    "noTeardown", "teardownTimeout", "rps", "dns", "maxRedirects", "userAgent", "batch", "batchPerHost",
    "httpDebug", "insecureSkipTLSVerify", "tlsCipherSuites", "tlsVersion", "tlsAuth", "throw", "thresholds",
    "blacklistIPs", "blockHostnames", "hosts", "noConnectionReuse", "noVUConnectionReuse",
    "minIterationDuration", "ext", "summaryTrendStats", "summaryTimeUnit", "systemTags", "tags",
    "metricSamplesBufferSize", "noCookiesReset", "discardResponseBodies", "consoleOutput", "localIPs",
)


def _json_layer(data: Mapping[str, Any], where: str, warnings: list[str] | None) -> dict[str, Any]:
    """Options from the script (``warnings`` collects unknown keys, as k6 warns) or a config file."""
    layer: dict[str, Any] = {}
    unknown = sorted(key for key in data if key not in _OPTION_TYPES)
    if unknown and warnings is not None:
        warnings.append(
            f"There were unknown fields in the options exported in the script (json: unknown field \"{unknown[0]}\")"
        )
    for key, reader in _OPTION_TYPES.items():
        if data.get(key) is not None:
            layer[key] = reader(data[key], f"option {key}{where}")
    return layer


def _read_config_file(path: str, explicit: bool) -> tuple[dict[str, Any], list[str] | None]:
    """The config file's options and its ``out``; a missing default file is no error."""
    prefix = "failed to load the configuration file from the local file system: "
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        if not explicit:
            return {}, None
        raise OptionsError(f"{prefix}stat {path}: no such file or directory") from None
    except OSError as exc:
        raise OptionsError(f"{prefix}couldn't load the configuration from {json.dumps(path)}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise OptionsError(f"{prefix}couldn't parse the configuration from {json.dumps(path)}: {exc}") from None
    data = _object(data, f"configuration in {path}")
    out = data.get("out")
    return _json_layer(data, f" in {path}", None), (None if out is None else _strings(out, f"option out in {path}"))


def _default_config_path(env: Mapping[str, str]) -> str:
    base = env.get("XDG_CONFIG_HOME") or (os.path.join(env["HOME"], ".config") if env.get("HOME") else ".config")
    return os.path.join(base, "k6", "config.json")


# Environment variables k6 reads options from: name -> (option, reader of the text).
def _env_int(text: str, name: str) -> int:
    if _INT_TEXT.fullmatch(text):
        return int(text)
    raise OptionsError(f'invalid {name}: strconv.ParseInt: parsing "{text}": invalid syntax')


def _env_bool(text: str, name: str) -> bool:
    if text in ("true", "false"):
        return text == "true"
    raise OptionsError(f"invalid {name}: expected true or false, got {text!r}")


def _env_duration(text: str, name: str) -> int:
    try:
        return parse_extended(text)
    except DurationError as exc:
        raise OptionsError(f"invalid {name}: {exc}") from None


def _env_list(text: str, name: str) -> list[str]:
    return text.split(",")


def _env_map(text: str, name: str) -> dict[str, str]:
    result = {}
    for item in text.split(","):
        parts = item.split(":")
        if len(parts) != 2:
            raise OptionsError(f'invalid {name}: invalid map item: "{item}"')
        result[parts[0]] = parts[1]
    return result


def _env_stages(text: str, name: str) -> list[Stage]:
    return [_stage_text(item, name) for item in text.split(",")]


def _stage_text(text: str, name: str) -> Stage:
    """``"30s:10"`` as k6's Stage.UnmarshalText reads it; no duration before ':' means none."""
    duration_text, _, target_text = text.partition(":")
    try:
        duration = parse_extended(duration_text) if duration_text else None
    except DurationError as exc:
        raise OptionsError(f"invalid {name}: error parsing stage '{text}': {exc}") from None
    if target_text and not _INT_TEXT.fullmatch(target_text):
        raise OptionsError(
            f"invalid {name}: error parsing stage '{text}': strconv.ParseInt: parsing \"{target_text}\": invalid syntax"
        )
    return Stage(duration, int(target_text) if target_text else None)


def _dns_text(text: str) -> dict[str, Any]:
    try:
        return dnsconfig.parse_flag(text)
    except dnsconfig.DnsError as exc:
        raise OptionsError(str(exc), ExitCode.GENERIC_ERROR) from None


def _dns_env(text: str) -> dict[str, Any]:
    try:
        return dnsconfig.parse_flag(text)
    except dnsconfig.DnsError as exc:
        raise OptionsError(
            f"envconfig.Process: assigning K6_DNS to DNS: converting '{text}' to type types.DNSConfig. details: {exc}"
        ) from None


def _local_ips(text: str) -> str:
    """k6's IP pool syntax: IPs, ranges (a-b) and CIDRs, comma-separated."""
    for item in text.split(","):
        parts = item.split("-")
        try:
            if len(parts) == 2:
                ipaddress.ip_address(parts[0]), ipaddress.ip_address(parts[1])
            elif "/" in item:
                ipaddress.ip_network(item, strict=False)
            else:
                ipaddress.ip_address(item)
        except ValueError:
            raise OptionsError(f"{item} is not a valid IP, IP range or CIDR", ExitCode.GENERIC_ERROR) from None
    return text


def _env_cidrs(text: str, name: str) -> list[str]:
    return _cidrs(text.split(","), name)


_ENV: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "K6_VUS": ("vus", _env_int), "K6_DURATION": ("duration", _env_duration),
    "K6_ITERATIONS": ("iterations", _env_int), "K6_STAGES": ("stages", _env_stages),
    "K6_PAUSED": ("paused", _env_bool),
    "K6_EXECUTION_SEGMENT": ("executionSegment", _segment),
    "K6_EXECUTION_SEGMENT_SEQUENCE": ("executionSegmentSequence", _sequence), "K6_NO_SETUP": ("noSetup", _env_bool),
    "K6_SETUP_TIMEOUT": ("setupTimeout", _env_duration), "K6_NO_TEARDOWN": ("noTeardown", _env_bool),
    "K6_TEARDOWN_TIMEOUT": ("teardownTimeout", _env_duration), "K6_RPS": ("rps", _env_int),
    "K6_MAX_REDIRECTS": ("maxRedirects", _env_int), "K6_USER_AGENT": ("userAgent", lambda t, n: t),
    "K6_BATCH": ("batch", _env_int), "K6_BATCH_PER_HOST": ("batchPerHost", _env_int),
    "K6_HTTP_DEBUG": ("httpDebug", lambda t, n: t),
    "K6_INSECURE_SKIP_TLS_VERIFY": ("insecureSkipTLSVerify", _env_bool),
    "K6_TLS_CIPHER_SUITES": ("tlsCipherSuites", _env_list), "K6_THROW": ("throw", _env_bool),
    "K6_BLACKLIST_IPS": ("blacklistIPs", _env_cidrs), "K6_BLOCK_HOSTNAMES": ("blockHostnames", _env_list),
    "K6_NO_CONNECTION_REUSE": ("noConnectionReuse", _env_bool),
    "K6_NO_VU_CONNECTION_REUSE": ("noVUConnectionReuse", _env_bool),
    "K6_MIN_ITERATION_DURATION": ("minIterationDuration", _env_duration),
    "K6_SUMMARY_TREND_STATS": ("summaryTrendStats", _env_list),
    "K6_SUMMARY_TIME_UNIT": ("summaryTimeUnit", lambda t, n: t),
    "K6_SYSTEM_TAGS": ("systemTags", _env_list), "K6_TAGS": ("tags", _env_map),
    "K6_METRIC_SAMPLES_BUFFER_SIZE": ("metricSamplesBufferSize", _env_int),
    "K6_NO_COOKIES_RESET": ("noCookiesReset", _env_bool),
    "K6_DISCARD_RESPONSE_BODIES": ("discardResponseBodies", _env_bool),
    "K6_DNS": ("dns", lambda t, n: _dns_env(t)), "K6_LOCAL_IPS": ("localIPs", lambda t, n: _local_ips(t)),
}


# Set even when empty, to an empty list; other empty variables count as unset.
_ENV_EMPTY_LIST = frozenset({"K6_STAGES", "K6_SUMMARY_TREND_STATS", "K6_BLACKLIST_IPS", "K6_SYSTEM_TAGS"})


def _env_layer(env: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for name, (key, reader) in _ENV.items():
        if env.get(name):
            layer[key] = reader(env[name], f"environment variable {name}")
        elif name in _ENV_EMPTY_LIST and name in env:
            layer[key] = []
    return layer


_PARSE_BOOL = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
               "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def _runtime_bool(cli: Mapping[str, Any], env: Mapping[str, str], flag: str, variable: str) -> bool:
    """--no-thresholds / --no-summary and their variables, read as k6 reads runtime options."""
    text = env.get(variable)
    if text is not None and text not in _PARSE_BOOL:
        raise OptionsError(
            f"env var '{variable}' is not a valid boolean value: strconv.ParseBool: parsing \"{text}\": invalid syntax",
            ExitCode.GENERIC_ERROR,
        )
    if cli.get(flag) is not None:
        return bool(cli[flag])
    return _PARSE_BOOL.get(text or "false", False)


# HTTP flags: (flag dest, option). Accepted as k6 accepts them; they have no effect here.
_HTTP_FLAGS = (
    ("throw", "throw"), ("max_redirects", "maxRedirects"), ("batch", "batch"), ("batch_per_host", "batchPerHost"),
    ("rps", "rps"), ("user_agent", "userAgent"), ("http_debug", "httpDebug"),
    ("no_connection_reuse", "noConnectionReuse"), ("no_vu_connection_reuse", "noVUConnectionReuse"),
    ("discard_response_bodies", "discardResponseBodies"),
)
# Options k6host reads but cannot apply, and why; a run that sets one says so.
_NO_EFFECT = {
    **{key: "it applies to HTTP requests, which k6host does not make" for key in (
        "throw", "maxRedirects", "batch", "batchPerHost", "rps", "userAgent", "httpDebug", "noConnectionReuse",
        "noVUConnectionReuse", "discardResponseBodies", "noCookiesReset")},
    "tlsCipherSuites": "k6host uses the TLS library's default cipher suites",
    "tlsVersion": "k6host uses the TLS library's default versions",
    "localIPs": "connections use the system's source address",
    "metricSamplesBufferSize": "k6host hands samples over in batches of its own",
    "ext": "it is read by k6 Cloud only",
}
_CLI_KEYS = frozenset({
    "vus", "duration", "iterations", "stages", "tags", "no_thresholds", "no_summary", "summary_trend_stats",
    "summary_time_unit", "summary_export", "out", "quiet", "no_color", "env", "include_system_env_vars",
    "no_setup", "no_teardown", "insecure_skip_tls_verify", "min_iteration_duration", "system_tags",
    "blacklist_ip", "block_hostnames", "dns", "local_ips", "summary_mode", "compatibility_mode",
    *(flag for flag, _ in _HTTP_FLAGS),
    "tcp_debug",
    "execution_segment", "execution_segment_sequence",
})

_SUMMARY_MODES = ("compact", "full", "legacy")
_COMPATIBILITY_MODES = ("extended", "base", "experimental_enhanced")


def _flag_error(flag: str, value: Any, message: str) -> OptionsError:
    return OptionsError(f'invalid argument "{value}" for "{flag}" flag: {message}', ExitCode.GENERIC_ERROR)


def _cli_int(value: Any, flag: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT_TEXT.fullmatch(value):
        return int(value)
    raise _flag_error(flag, value, f'strconv.ParseInt: parsing "{value}": invalid syntax')


def _cli_layer(cli: Mapping[str, Any]) -> dict[str, Any]:
    """Flags as k6's pflag reads them; their mistakes exit 255 like k6's."""
    layer: dict[str, Any] = {}
    if cli.get("vus") is not None:
        layer["vus"] = _cli_int(cli["vus"], "-u, --vus")
    if cli.get("iterations") is not None:
        layer["iterations"] = _cli_int(cli["iterations"], "-i, --iterations")
    if cli.get("duration") is not None:
        try:
            layer["duration"] = go_parse_duration(str(cli["duration"]))
        except DurationError as exc:
            raise _flag_error("-d, --duration", cli["duration"], str(exc)) from None
    if cli.get("stages"):
        texts = [part for text in cli["stages"] for part in text.split(",")]
        stages = []
        for i, text in enumerate(texts):
            try:
                stage = _stage_text(text, "--stage")
            except OptionsError as exc:
                raise OptionsError(str(exc), ExitCode.GENERIC_ERROR) from None
            if stage.duration is None:
                raise OptionsError(f"stage {i} doesn't have a specified duration", ExitCode.GENERIC_ERROR)
            stages.append(stage)
        layer["stages"] = stages
    if cli.get("tags"):
        layer["tags"] = _cli_tags(cli["tags"])
    for flag, key, reader in (("execution_segment", "executionSegment", _segment),
                              ("execution_segment_sequence", "executionSegmentSequence", _sequence)):
        if cli.get(flag) is not None:
            try:
                layer[key] = reader(cli[flag], f"--{flag.replace('_', '-')}")
            except OptionsError as exc:
                raise OptionsError(str(exc), ExitCode.GENERIC_ERROR) from None
    if cli.get("summary_trend_stats") is not None:
        stats = cli["summary_trend_stats"]
        layer["summaryTrendStats"] = stats.split(",") if isinstance(stats, str) else list(stats)
    if cli.get("summary_time_unit") is not None:
        unit = cli["summary_time_unit"]
        if unit not in ("s", "ms", "us"):
            raise OptionsError(f"invalid summary time unit '{unit}', use 's', 'ms' or 'us'", ExitCode.GENERIC_ERROR)
        layer["summaryTimeUnit"] = unit
    for flag, key in (("no_setup", "noSetup"), ("no_teardown", "noTeardown"),
                      ("insecure_skip_tls_verify", "insecureSkipTLSVerify")):
        if cli.get(flag) is not None:
            layer[key] = bool(cli[flag])
    if cli.get("min_iteration_duration") is not None:
        text = str(cli["min_iteration_duration"])
        try:
            layer["minIterationDuration"] = go_parse_duration(text)
        except DurationError as exc:
            raise _flag_error("--min-iteration-duration", text, str(exc)) from None
    if cli.get("system_tags") is not None:
        layer["systemTags"] = [t for text in _listed(cli["system_tags"]) for t in text.split(",") if t]
    if cli.get("blacklist_ip") is not None:
        ranges = [t for text in _listed(cli["blacklist_ip"]) for t in text.split(",") if t]
        for text in ranges:
            try:
                ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise OptionsError(
                    f"error parsing blacklist-ip '{text}': invalid CIDR address: {text}", ExitCode.GENERIC_ERROR
                ) from None
        layer["blacklistIPs"] = ranges
    if cli.get("block_hostnames") is not None:
        layer["blockHostnames"] = [t for text in _listed(cli["block_hostnames"]) for t in text.split(",") if t]
    if cli.get("dns") is not None:
        layer["dns"] = _dns_text(str(cli["dns"]))
    if cli.get("local_ips") is not None:
        layer["localIPs"] = _local_ips(str(cli["local_ips"]))
    for flag, key in _HTTP_FLAGS:
        if cli.get(flag) is not None:
            is_int = flag in ("max_redirects", "batch", "batch_per_host", "rps")
            layer[key] = _cli_int(cli[flag], "--" + flag.replace("_", "-")) if is_int else cli[flag]
    return layer


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def compatibility_mode(cli: Mapping[str, Any], env: Mapping[str, str]) -> str:
    """k6's --compatibility-mode (or K6_COMPATIBILITY_MODE); "base" has no ``global`` alias."""
    return _runtime_choice(
        cli, env, "compatibility_mode", "K6_COMPATIBILITY_MODE", _COMPATIBILITY_MODES,
        'invalid compatibility mode "{value}". Use: "extended", "base", "experimental_enhanced"',
    )


def _runtime_choice(cli: Mapping[str, Any], env: Mapping[str, str], flag: str, variable: str,
                    allowed: tuple[str, ...], message: str) -> str:
    """--summary-mode / --compatibility-mode and their variables: k6 refuses other values (exit 255)."""
    value = cli.get(flag) if cli.get(flag) is not None else env.get(variable) or allowed[0]
    if value not in allowed:
        raise OptionsError(message.format(value=value), ExitCode.GENERIC_ERROR)
    return value


def _cli_tags(pairs: list[str]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        problem = "empty name" if sep and not key else "empty value" if not value else None
        if problem:
            raise OptionsError(f"error parsing tag '{pair}': invalid tag, {problem}", ExitCode.GENERIC_ERROR)
        tags[key] = value
    return tags


def _apply(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    """k6's Options.Apply: a source with any execution shortcut replaces all of them."""
    merged = dict(base)
    if any(key in layer for key in SHORTCUTS):
        for key in SHORTCUTS:
            merged.pop(key, None)
    for key, value in layer.items():
        merged[key] = [s for s in value if s.duration is not None] if key == "stages" else value
    return merged


def _check_trend_stats(stats: list[str]) -> None:
    """k6 refuses unknown summary trend stats (exit 255)."""
    for stat in stats:
        if stat in ("avg", "min", "med", "max", "count"):
            continue
        match = _PERCENTILE.fullmatch(stat)
        if not match:
            raise OptionsError(f"invalid trend stat '{stat}', unknown format", ExitCode.GENERIC_ERROR)
        try:
            value = float(match.group(1)) if match.group(1).strip() == match.group(1) else -1.0
        except ValueError:
            value = -1.0
        if not 0 <= value <= 100:
            raise OptionsError(
                f"invalid percentile trend stat value '{stat}', provide a number between 0 and 100", ExitCode.GENERIC_ERROR
            )


# -- deriving scenarios from the shortcuts ---------------------------------------------------------


def _derive(merged: dict[str, Any], warnings: list[str]) -> dict[str, Scenario]:
    """k6's DeriveScenariosFromShortcuts, including the VU count ``k6 run`` defaults to."""
    stages, scenarios = merged.get("stages"), merged.get("scenarios")
    shortcut_vus = {"vus": merged["vus"]} if "vus" in merged else {}
    if "iterations" in merged:
        if stages:
            raise OptionsError("using `iterations` and `stages` options simultaneously is not allowed")
        if scenarios is not None:
            raise OptionsError("using `iterations` and `scenarios` options simultaneously is not allowed")
        given = {**shortcut_vus, "iterations": merged["iterations"]}
        if "duration" in merged:
            given["maxDuration"] = merged["duration"]
        return {"default": Scenario.from_given("default", "shared-iterations", given)}
    if "duration" in merged:
        if stages:
            raise OptionsError("using `duration` and `stages` options simultaneously is not allowed")
        if scenarios is not None:
            raise OptionsError("using `duration` and `scenarios` options simultaneously is not allowed")
        if merged["duration"] <= 0:
            raise OptionsError(
                "`duration` option should be more than 0, for infinite duration use the externally-controlled executor"
            )
        given = {**shortcut_vus, "duration": merged["duration"]}
        return {"default": Scenario.from_given("default", "constant-vus", given)}
    if stages:
        if scenarios is not None:
            raise OptionsError("using `stages` and `scenarios` options simultaneously is not allowed")
        given = {"stages": stages}
        if shortcut_vus:
            given["startVUs"] = shortcut_vus["vus"]
        return {"default": Scenario.from_given("default", "ramping-vus", given)}
    if scenarios:
        return scenarios
    if shortcut_vus:
        warnings.append(
            f"`vus={merged['vus']}` option will be ignored, it only works in conjunction with "
            "`iterations`, `duration`, or `stages`"
        )
    for key in ("stages", "scenarios"):
        if merged.get(key) is not None:
            warnings.append(
                f"`{key}` was explicitly set to an empty value, running the script with 1 iteration in 1 VU"
            )
    return {"default": Scenario.from_given("default", "per-vu-iterations", {})}


# -- the result -------------------------------------------------------------------------------------


@dataclass
class Options:
    """The consolidated options of one run; times in seconds."""

    raw: dict[str, Any]
    scenarios: list[Scenario]  # sorted by (start_time, name), as k6 runs and lists them
    thresholds: dict[str, list[str | dict]]
    no_thresholds: bool = False
    no_summary: bool = False
    summary_trend_stats: list[str] = field(default_factory=lambda: list(DEFAULT_TREND_STATS))
    summary_time_unit: str | None = None
    summary_export: str | None = None
    setup_timeout: float = 60.0
    teardown_timeout: float = 60.0
    no_setup: bool = False
    no_teardown: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    out: list[str] = field(default_factory=list)
    quiet: bool = False
    no_color: bool = False
    summary_mode: str = "compact"
    compatibility_mode: str = "extended"
    min_iteration_duration: float = 0.0
    system_tags: list[str] | None = None  # None: k6's default set
    tcp_debug: str | None = None  # "basic" or "full" (tcpdebug.py)
    warnings: list[str] = field(default_factory=list)  # for the runner to log, in order
    notices: list[str] = field(default_factory=list)  # k6host's own warnings: options it cannot apply
    segment: Tuple = WHOLE  # this instance's execution segment (segments.py)
    shortcuts: dict[str, Any] = field(default_factory=dict)  # vus, duration, iterations, stages as k6 prints them

    def requirements(self) -> list[Step]:
        """All scenarios' VU needs over the test, summed where they overlap (k6's execution plan)."""
        tracked = sorted(
            ((round(s.start_time * SECOND) + _ns(step.offset), index, step)
             for index, s in enumerate(self.scenarios) for step in s.requirements()),
            key=lambda item: (item[0], item[1]),
        )
        planned = [0] * len(self.scenarios)
        unplanned = [0] * len(self.scenarios)
        steps: list[Step] = []
        for offset, index, step in tracked:
            planned[index], unplanned[index] = step.planned, step.unplanned
            total = (sum(planned), sum(unplanned))
            if not steps or (steps[-1].planned, steps[-1].unplanned) != total:
                steps.append(Step(offset / SECOND, *total))
        return steps

    def max_vus(self) -> int:
        """VUs to initialize for the whole test: the peak of the summed requirements."""
        return max((s.planned + s.unplanned for s in self.requirements()), default=0)

    def planned_vus(self) -> int:
        """VUs initialized before the test starts; arrival rates add the rest on demand."""
        return max((s.planned for s in self.requirements()), default=0)

    def total_duration(self) -> float:
        """k6's "max duration (incl. graceful stop)" in seconds."""
        steps = self.requirements()
        return steps[-1].offset if steps else 0.0


def load_options(
    script_options: Mapping[str, Any] | None,
    *,
    config_file: str | None,
    env: Mapping[str, str],
    cli: Mapping[str, Any],
    exports: Collection[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Options:
    """Consolidate the options of one ``k6 run``; OptionsError carries k6's exit code.

    ``env`` is the process environment: k6 reads ``K6_*`` options,
    ``K6_CONFIG``, ``K6_NO_THRESHOLDS``, ``NO_COLOR``... from it. ``cli`` holds
    only the flags the user gave: vus, duration, iterations (as typed or int),
    stages (``["30s:10"]``), tags (``["k=v"]``), summary_trend_stats
    (``"avg,p(99)"``), summary_time_unit, summary_export, out (list), no_thresholds,
    no_summary, no_setup, no_teardown, insecure_skip_tls_verify, quiet,
    no_color, include_system_env_vars, and env: the ``-e`` pairs as a dict,
    which k6 also reads ``K6_*`` options from unless include_system_env_vars
    is false. ``exports`` are the script's exported function names; when
    given, each scenario's ``exec`` is checked in the same report, as k6 does.
    It also takes summary_mode, compatibility_mode, min_iteration_duration,
    system_tags, blacklist_ip, block_hostnames, dns, local_ips and the HTTP
    flags (accepted as k6 accepts them; ``notices`` says they have no effect).
    ``overrides`` are options in the script's JSON shape from a caller (the
    Python API), ranked with the command line, just below its flags.
    """
    unknown = set(cli) - _CLI_KEYS
    if unknown:
        raise TypeError(f"unknown command-line options: {sorted(unknown)}")
    warnings: list[str] = []

    path = config_file or env.get("K6_CONFIG")
    file_layer, file_out = _read_config_file(path or _default_config_path(env), explicit=bool(path))
    script_layer = _json_layer(script_options or {}, "", warnings)
    option_env = dict(env)
    if cli.get("include_system_env_vars", True):
        option_env.update(cli.get("env") or {})
    layers = [("script", script_layer), ("env", _env_layer(option_env))]
    if overrides:
        layers.append(("cli", _json_layer(overrides, "", warnings)))
    layers.append(("cli", _cli_layer(cli)))

    merged = _apply({}, file_layer)
    for name, layer in layers:
        if "scenarios" in merged and any(key in layer for key in SHORTCUTS):
            warnings.append(f'"{name}" level configuration overrode scenarios configuration entirely')
        merged = _apply(merged, layer)

    trend_stats = merged.get("summaryTrendStats", DEFAULT_TREND_STATS)
    _check_trend_stats(trend_stats)
    no_thresholds = _runtime_bool(cli, env, "no_thresholds", "K6_NO_THRESHOLDS")
    no_summary = _runtime_bool(cli, env, "no_summary", "K6_NO_SUMMARY")
    summary_mode = _runtime_choice(cli, env, "summary_mode", "K6_SUMMARY_MODE", _SUMMARY_MODES, "invalid summary mode")
    mode = compatibility_mode(cli, env)
    system_tags = merged.get("systemTags")
    notices = [f"option {key} has no effect: {why}" for key, why in _NO_EFFECT.items() if merged.get(key) is not None]
    unadded = sorted({"vu", "iter", "ip", "ocsp_status"} & set(system_tags or ()))
    if unadded:
        notices.append(f"system tags {', '.join(unadded)} are not added to samples by k6host")
    if mode == "experimental_enhanced":
        notices.append("compatibility mode experimental_enhanced runs as extended in k6host")

    scenarios = _derive(merged, warnings)
    errors = [
        f"scenario {name} has configuration errors: {', '.join(problems)}"
        for name, problems in sorted((n, s.errors()) for n, s in scenarios.items()) if problems
    ]
    if merged.get("setupTimeout", 1) <= 0:
        errors.append("setupTimeout must be positive")
    et = WHOLE
    if merged.get("executionSegment") or merged.get("executionSegmentSequence"):
        segment = Segment.parse(merged["executionSegment"]) if merged.get("executionSegment") else None
        sequence = parse_sequence(merged.get("executionSegmentSequence") or "")
        whole = segment or Segment(Fraction(0), Fraction(1))
        if sequence and whole not in sequence:  # k6 checks this first
            errors.insert(0, f"provided segment {whole} can't be found in sequence {sequence_string(sequence)}")
        else:
            et = Tuple.of(segment, sequence)
    if exports is not None:
        errors += [
            f"executor {name}: function '{scenarios[name].exec}' not found in exports"
            for name in sorted(scenarios) if scenarios[name].exec not in exports
        ]
    if errors:
        raise OptionsError("There were problems with the specified script configuration:\n\t- " + "\n\t- ".join(errors))

    out = cli.get("out") or [t for t in option_env.get("K6_OUT", "").split(",") if t] or file_out or []
    # Imported here: the dashboard's own imports reach back into this module.
    from k6host.net.tcpdebug import TcpDebugError
    from k6host.net.tcpdebug import parse_mode as parse_tcp_debug
    from k6host.report.dashboard import DashboardError
    from k6host.report.dashboard import enabled as dashboard_enabled

    try:
        if dashboard_enabled(env) and not any(o.partition("=")[0] == "web-dashboard" for o in out):
            out = [*out, "web-dashboard"]  # K6_WEB_DASHBOARD=true, as k6 reads it
    except DashboardError as exc:
        raise OptionsError(str(exc), ExitCode.GENERIC_ERROR) from None
    try:
        tcp_debug = parse_tcp_debug(cli.get("tcp_debug"), option_env)
    except TcpDebugError as exc:
        raise OptionsError(str(exc), ExitCode.GENERIC_ERROR) from None
    export = cli.get("summary_export") if cli.get("summary_export") is not None else env.get("K6_SUMMARY_EXPORT")
    return Options(
        raw=_raw(merged, scenarios, trend_stats),
        scenarios=sorted((s.segmented(et) for s in scenarios.values()), key=lambda s: (s.start_time, s.name)),
        segment=et,
        thresholds=merged.get("thresholds", {}),
        no_thresholds=no_thresholds,
        no_summary=no_summary,
        summary_trend_stats=list(trend_stats),
        summary_time_unit=merged.get("summaryTimeUnit"),
        summary_export=export or None,
        setup_timeout=merged.get("setupTimeout", 60 * SECOND) / SECOND,
        teardown_timeout=merged.get("teardownTimeout", 60 * SECOND) / SECOND,
        summary_mode=summary_mode,
        compatibility_mode=mode,
        min_iteration_duration=merged.get("minIterationDuration", 0) / SECOND,
        system_tags=None if merged.get("systemTags") is None else list(merged["systemTags"]),
        notices=notices,
        no_setup=merged.get("noSetup", False),
        no_teardown=merged.get("noTeardown", False),
        tags=dict(merged.get("tags", {})),
        out=list(out),
        quiet=bool(cli.get("quiet")),
        no_color=bool(cli.get("no_color")) or bool(env.get("K6_NO_COLOR")) or "NO_COLOR" in env,
        tcp_debug=tcp_debug,
        warnings=warnings,
        shortcuts={key: _k6_value(key, merged.get(key)) for key in _INSPECT_SHORTCUTS},
    )


def _raw(merged: dict[str, Any], scenarios: dict[str, Scenario], trend_stats: list[str]) -> dict[str, Any]:
    """``exec.test.options`` as k6 shows it."""
    raw: dict[str, Any] = {}
    for key in _RAW_KEYS:
        value = merged.get(key)
        if key == "scenarios":
            value = {name: scenarios[name].to_k6() for name in sorted(scenarios)}
        elif key == "dns":
            value = {"ttl": None, "select": None, "policy": None, **(value or {})}
        elif key == "thresholds" and value is not None:
            value = {metric: [_threshold_json(item) for item in items] for metric, items in value.items()}
        elif key == "summaryTrendStats":
            value = list(trend_stats)
        elif key == "systemTags":
            value = list(DEFAULT_SYSTEM_TAGS) if value is None else value or None
        elif key == "tags":
            value = value or None
        else:
            value = _k6_value(key, value)
        raw[key] = value
    return raw


def _threshold_json(item: str | dict) -> str | dict:
    """k6 prints a threshold as its expression unless abortOnFail is set."""
    if isinstance(item, str):
        return item
    expression = item.get("threshold") or ""
    if not item.get("abortOnFail"):
        return expression
    delay = item.get("delayAbortEval")
    return {
        "threshold": expression,
        "abortOnFail": True,
        "delayAbortEval": None if delay is None else format_ns(_duration(delay, "delayAbortEval")),
    }


# -- k6 inspect and k6 archive: the options as JSON in k6's key order --------------------------------
_INSPECT_SHORTCUTS = ("vus", "duration", "iterations", "stages")
# k6's lib.Options fields as `k6 inspect` and an archive's metadata.json list them.
_INSPECT_KEYS = ("paused", *_INSPECT_SHORTCUTS) + tuple(k for k in _RAW_KEYS[1:] if k not in ("consoleOutput", "localIPs"))


def exported_options_json(script_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """`k6 inspect SCRIPT`: what the script exports, every key (null when unset).
    Raises OptionsError for an option of the wrong type, as a run would."""
    layer = _json_layer(script_options or {}, "", None)
    shown: dict[str, Any] = {}
    for key in _INSPECT_KEYS:
        value = layer.get(key)
        if key == "scenarios" and value is not None:
            value = {name: value[name].to_k6() for name in value}
        elif key == "dns":
            value = {"ttl": None, "select": None, "policy": None, **(value or {})}
        elif key == "thresholds" and value is not None:
            value = {metric: [_threshold_json(item) for item in items] for metric, items in value.items()}
        else:
            value = _k6_value(key, value)
        shown[key] = value
    return shown


def consolidated_options_json(options: Options, derived_scenarios: bool) -> dict[str, Any]:
    """The options after every layer, in `k6 inspect`'s order: with the scenarios
    k6 derives (`--execution-requirements`), or as an archive stores them (the
    shortcuts kept, scenarios null unless the script gave them)."""
    shown: dict[str, Any] = {}
    for key in _INSPECT_KEYS:
        shown[key] = options.shortcuts.get(key) if key in _INSPECT_SHORTCUTS else options.raw.get(key)
    if not derived_scenarios and any(shown[key] is not None for key in ("duration", "iterations", "stages")):
        shown["scenarios"] = None
    return shown
