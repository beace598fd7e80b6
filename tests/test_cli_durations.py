"""Every "seconds" option is a finite duration >= 0 (intervals > 0): exit 2 otherwise (issue 12)."""

from __future__ import annotations

import math

import pytest
import typer

from migctl.cli.duration import parse_duration

BAD = ["nan", "NaN", "inf", "-inf", "1e999", "-1", "-0.5", "abc", ""]


@pytest.mark.parametrize("text", BAD)
def test_parse_duration_refuses_non_finite_negative_and_garbage(text):
    with pytest.raises(typer.BadParameter):
        parse_duration(text)


def test_parse_duration_reads_seconds():
    assert parse_duration("0") == 0.0 and parse_duration(" 2.5 ") == 2.5 and parse_duration(600.0) == 600.0
    with pytest.raises(typer.BadParameter):
        parse_duration("0", positive=True)
    with pytest.raises(typer.BadParameter):
        parse_duration(math.nan)


@pytest.mark.parametrize("argv", [
    ["node", "apply-geometry", "1g.5gb:1", "--lock-timeout", "{v}"],
    ["node", "set-geometry", "n1", "1g.5gb:1", "--wait", "--timeout", "{v}"],
    ["node", "set-geometry", "n1", "1g.5gb:1", "--wait", "--poll-interval", "{v}"],
    ["node", "daemon", "--node", "n1", "--lock-timeout", "{v}"],
    ["node", "daemon", "--node", "n1", "--resync-interval", "{v}"],
    ["node", "daemon", "--node", "n1", "--retry-interval", "{v}"],
    ["node", "daemon", "--node", "n1", "--stall-timeout", "{v}"],
])
@pytest.mark.parametrize("value", ["nan", "-1", "inf"])
def test_every_duration_option_refuses_with_exit_2(cli, argv, value):
    result = cli(*[a.format(v=value) for a in argv])
    assert result.exit_code == 2, result
    assert "finite" in result.stderr or "0 or more" in result.stderr or "above 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_library_refuses_a_lock_timeout_that_never_ends(tmp_path):
    from migctl.apply.journal import node_lock
    from migctl.errors import InputError

    for bad in (math.nan, math.inf, -1.0):
        with pytest.raises(InputError), node_lock(tmp_path / "state", timeout=bad):
            pass


def test_set_geometry_refuses_a_wait_that_never_ends():
    from migctl.daemon.request import set_geometry
    from migctl.errors import InputError

    for kw in ({"timeout": math.nan}, {"timeout": -1}, {"poll_interval": 0}, {"poll_interval": math.inf}):
        with pytest.raises(InputError):
            set_geometry("n1", "1g.5gb:1", wait=True, api=object(), **kw)
