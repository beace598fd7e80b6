"""Errors that carry the process exit code migctl promises its users.

Exit codes (DEVELOPERS.md, "House rules"):

====  ==========================================================================
0     ok
1     the check failed (invalid config, unschedulable pod, apply failed)
2     usage error or unreadable input
3     cluster or NVML unreachable
4     refused for safety
5     a GPU reset or reboot is needed
====  ==========================================================================

Domain code raises these; the CLI edge (``migctl.cli.main``) turns them into a one-line
message on stderr and the exit code, never a traceback (unless ``--debug``).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    UNREACHABLE = 3
    REFUSED = 4
    RESET_REQUIRED = 5


class MigctlError(Exception):
    """Base class: a failure with a message meant for the user and an exit code."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class CheckFailed(MigctlError):
    """The thing checked is not right: invalid config, infeasible geometry, apply failed."""

    exit_code = ExitCode.FAILED


class InputError(MigctlError):
    """Bad usage or input that cannot be read (missing file, not YAML, wrong shape)."""

    exit_code = ExitCode.USAGE


class UnreachableError(MigctlError):
    """The Kubernetes API server or NVML cannot be reached."""

    exit_code = ExitCode.UNREACHABLE


class RefusedError(MigctlError):
    """The operation was refused because it would be unsafe (e.g. destroy a busy instance)."""

    exit_code = ExitCode.REFUSED


class ResetRequiredError(MigctlError):
    """A GPU reset or a reboot is needed before the change can take effect."""

    exit_code = ExitCode.RESET_REQUIRED
