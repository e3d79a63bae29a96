"""The controllers' set-up: timing settings scaled with the world's speed, and the world's
table of spillover's timing defaults kept in step with `src/config.rs`."""

from __future__ import annotations

import re

import pytest

from world import controllers
from world.controllers import ROOT, SPILLOVER_TIMING_DEFAULTS, scale_timing, spillover_env

CONFIG_RS = ROOT / "src" / "config.rs"


def config_source() -> str:
    return CONFIG_RS.read_text().split("#[cfg(test)]")[0]


def test_every_timing_variable_of_the_controller_is_scaled_by_the_world() -> None:
    names = set(re.findall(r'"(SPILLOVER_[A-Z0-9_]+_(?:SECS|MS))"', config_source()))
    assert names, "no timing variables found in src/config.rs"
    missing = names - set(SPILLOVER_TIMING_DEFAULTS)
    assert not missing, (f"src/config.rs has timing variables the closed-loop world does not "
                         f"scale: add them to SPILLOVER_TIMING_DEFAULTS: {sorted(missing)}")


def test_the_worlds_timing_defaults_are_the_controllers() -> None:
    source = config_source()
    for name, default in SPILLOVER_TIMING_DEFAULTS.items():
        found = re.search(rf'"{name}"\s*,\s*([0-9_.]+)', source)
        if found is None:
            continue  # a default written another way; the name test above still holds
        assert float(found.group(1).replace("_", "")) == default, name


@pytest.mark.parametrize("name, value, speed, expected", [
    ("SPILLOVER_WAIT_BUDGET_SECS", "240", 10, "24"),
    ("SPILLOVER_WAIT_BUDGET_SECS", "5", 20, "0.25"),
    ("SPILLOVER_RETURN_HOLD_SECS", "300", 1, "300"),
    ("SPILLOVER_POLL_INTERVAL_MS", "2000", 10, "200"),
    ("SPILLOVER_POLL_INTERVAL_MS", "1", 10, "1"),  # never 0 ms
])
def test_timing_settings_are_divided_by_the_speed(name: str, value: str, speed: float,
                                                   expected: str) -> None:
    assert scale_timing(value, speed, name) == expected


def test_a_timing_setting_that_is_not_a_number_is_named() -> None:
    with pytest.raises(ValueError, match="SPILLOVER_WAIT_BUDGET_SECS"):
        scale_timing("soon", 10, "SPILLOVER_WAIT_BUDGET_SECS")


def test_spillover_gets_the_scenarios_settings_and_every_timing_scaled() -> None:
    env = spillover_env({"AWS_REGION": "us-east-1"},
                        {"SPILLOVER_SPILL_COUNT": "4", "SPILLOVER_WAIT_BUDGET_SECS": "100"},
                        speed=10, alarm_names=["high"], warm_alarm_names=["warm"])
    assert env["SPILLOVER_SPILL_COUNT"] == "4"  # not a duration: as given
    assert env["SPILLOVER_WAIT_BUDGET_SECS"] == "10"
    assert env["SPILLOVER_RETURN_HOLD_SECS"] == "30"  # a default, scaled too
    assert env["SPILLOVER_ALARM_NAMES"] == "high"
    assert env["SPILLOVER_WARM_ALARM_NAMES"] == "warm"


def test_an_unknown_controller_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown controller"):
        controllers.setup("hand", world_env={}, scenario_env={}, speed=1, alarm_names=[],
                          warm_alarm_names=[])
