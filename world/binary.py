"""Where cargo puts spillover's binaries, asked of cargo rather than assumed to be ./target.

`CARGO_TARGET_DIR`, `CARGO_BUILD_TARGET_DIR` or `build.target-dir` in a `.cargo/config.toml`
move cargo's output anywhere. Two questions cargo answers:

- `cargo metadata` reports the workspace's `target_directory`, without building anything
  (https://doc.rust-lang.org/cargo/commands/cargo-metadata.html);
- `cargo build --message-format=json-render-diagnostics` prints one `compiler-artifact`
  message per target it built, with the path of the `executable`
  (https://doc.rust-lang.org/cargo/reference/external-tools.html#artifact-messages).

Command line (stdlib only, so any `python3` runs it with the repository on `PYTHONPATH`):

    python -m world.binary                         the debug spillover binary's path (no build)
    python -m world.binary --target-dir            cargo's target directory
    python -m world.binary --build [-- ARGS...]    cargo build --bin spillover ARGS, then the
                                                   path of the executable cargo reports
    python -m world.binary --build --name B -- --package P --bin B   another binary

`cargo` is the first on PATH, or `$CARGO`. `SPILLOVER_BIN` overrides the debug binary's path.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parent.parent


class CargoError(RuntimeError):
    pass


def _cargo() -> str:
    return os.environ.get("CARGO") or "cargo"


def target_dir(manifest: Path = ROOT / "Cargo.toml") -> Path:
    """The workspace's target directory, as cargo resolves it (environment and config)."""
    try:
        out = subprocess.run(
            [_cargo(), "metadata", "--format-version", "1", "--no-deps", "--manifest-path", str(manifest)],
            # From the workspace, as a build would run: cargo reads .cargo/config.toml from
            # the current directory upwards.
            cwd=manifest.parent, check=True, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        raise CargoError(f"cargo metadata failed ({e}); is cargo on PATH?") from e
    return Path(json.loads(out.stdout)["target_directory"])


def spillover_binary() -> str:
    """`SPILLOVER_BIN`, else the debug `spillover` in cargo's target directory."""
    explicit = os.environ.get("SPILLOVER_BIN")
    if explicit:
        return explicit
    return str(target_dir() / "debug" / "spillover")


def executable(messages: Iterable[str], name: str) -> str:
    """The executable of binary target `name` among cargo's JSON messages (the last one)."""
    found = None
    for line in messages:
        line = line.strip()
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        if (message.get("reason") == "compiler-artifact"
                and message.get("target", {}).get("name") == name
                and message.get("executable")):
            found = message["executable"]
    if found is None:
        raise CargoError(f"cargo reported no executable named {name!r} (is it a [[bin]] of the package built?)")
    return found


def build(name: str = "spillover", cargo_args: Iterable[str] = ()) -> str:
    """Builds binary `name` (`cargo build --bin NAME ARGS`) and returns the path cargo reports."""
    args = list(cargo_args)
    if "--bin" not in args:
        args += ["--bin", name]
    command = [_cargo(), "build", "--quiet", "--message-format=json-render-diagnostics", *args]
    # Diagnostics go to our stderr as cargo renders them; the JSON messages come on stdout.
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise CargoError(f"{' '.join(command)} failed with exit status {done.returncode}")
    return executable(done.stdout.splitlines(), name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m world.binary", description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--build", action="store_true", help="build, then print the executable cargo reports")
    what.add_argument("--target-dir", action="store_true", help="print cargo's target directory")
    parser.add_argument("--name", default="spillover", help="the binary target (default spillover)")
    parser.add_argument("cargo_args", nargs="*", help="after --: more arguments for cargo build")
    args = parser.parse_args(argv)
    try:
        if args.build:
            print(build(args.name, args.cargo_args))
        elif args.target_dir:
            print(target_dir())
        else:
            print(spillover_binary())
    except CargoError as e:
        print(f"world.binary: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
