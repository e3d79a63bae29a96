"""The spillover binary is found where cargo put it, not assumed to be in ./target.

`make demo`, `make replay`, `make loop`, the world's tests and the bench ask cargo
(`world/binary.py`): with CARGO_TARGET_DIR or CARGO_BUILD_TARGET_DIR set they must run the
binary in that directory. No second build here: `cargo metadata` needs none, and a fake
`cargo` on PATH stands for `cargo build`'s JSON messages.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from world import binary
from world.controllers import spillover_binary

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("SPILLOVER_BIN", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR", "CARGO"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("variable", ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"])
def test_the_binary_is_looked_up_in_cargos_target_dir(clean_env, tmp_path, variable):
    clean_env.setenv(variable, str(tmp_path))
    assert spillover_binary() == str(tmp_path / "debug" / "spillover")
    assert binary.target_dir() == tmp_path


def test_spillover_bin_wins(clean_env, tmp_path):
    clean_env.setenv("CARGO_TARGET_DIR", str(tmp_path))
    clean_env.setenv("SPILLOVER_BIN", "/opt/spillover")
    assert spillover_binary() == "/opt/spillover"


def artifact(name: str, executable: str | None, kind: str = "bin") -> str:
    return json.dumps({"reason": "compiler-artifact", "target": {"name": name, "kind": [kind]},
                       "executable": executable})


def test_the_executable_is_the_one_cargo_reports():
    messages = [
        artifact("spillover", None, kind="lib"),
        json.dumps({"reason": "build-script-executed"}),
        artifact("spillover-demo-app", "/t/debug/spillover-demo-app"),
        artifact("spillover", "/elsewhere/debug/spillover"),
        json.dumps({"reason": "build-finished", "success": True}),
    ]
    assert binary.executable(messages, "spillover") == "/elsewhere/debug/spillover"
    with pytest.raises(binary.CargoError, match="no executable named 'other'"):
        binary.executable(messages, "other")


def fake_cargo(bin_dir: Path, executable: Path) -> None:
    """A `cargo` that answers `cargo build` with the artifact message of `executable`."""
    bin_dir.mkdir()
    cargo = bin_dir / "cargo"
    cargo.write_text(
        "#!/usr/bin/env bash\n"
        "case $1 in\n"
        f"  build) echo '{artifact('spillover', str(executable))}' ;;\n"
        "  *) echo \"fake cargo: $* not expected\" >&2; exit 3 ;;\n"
        "esac\n")
    cargo.chmod(0o755)


def fake_spillover(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/usr/bin/env bash\necho \"fake spillover: $*\"\n")
    path.chmod(0o755)


def test_make_replay_runs_the_binary_cargo_built(clean_env, tmp_path):
    target = tmp_path / "elsewhere"
    exe = target / "debug" / "spillover"
    fake_spillover(exe)
    fake_cargo(tmp_path / "bin", exe)
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "CARGO_TARGET_DIR": str(target),
        # An explicit endpoint: replay.sh neither looks for a local world nor for real AWS.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    done = subprocess.run(["make", "--no-print-directory", "-s", "replay", "EVENT=events/alarm-metric.json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # The binary cargo reported ran (with whatever flags replay.sh adds around the event).
    (line,) = [l for l in done.stdout.splitlines() if l.startswith("fake spillover: ")]
    assert line.split()[2] == "replay" and "events/alarm-metric.json" in line.split()


def test_demo_looks_for_the_binary_in_cargos_target_dir(clean_env, tmp_path):
    env = {**os.environ, "CARGO_TARGET_DIR": str(tmp_path), "PY": str(tmp_path / "no-python")}
    env.pop("SPILLOVER_BIN", None)
    done = subprocess.run(["bash", "world/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    # Nothing is built in the empty target directory: the demo stops there, naming it.
    assert done.returncode == 2
    assert f"{tmp_path}/debug/spillover is not an executable" in done.stderr
