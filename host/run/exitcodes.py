"""k6's exit codes (its errext/exitcodes package): the one list k6host uses."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    THRESHOLDS_FAILED = 99
    SETUP_TIMEOUT = 100
    TEARDOWN_TIMEOUT = 101
    SCRIPT_STOPPED_FROM_REST_API = 103  # PATCH /v1/status {"stopped": true}
    INVALID_CONFIG = 104
    EXTERNAL_ABORT = 105  # a signal (Ctrl-C, SIGTERM) stopped the test
    CANNOT_START_REST_API = 106  # the --address given cannot be listened on
    SCRIPT_EXCEPTION = 107
    SCRIPT_ABORTED = 108  # test.abort()
    MARKED_AS_FAILED = 110  # test.fail()
    GENERIC_ERROR = 255  # bad flags, a missing script
