"""`make test` runs the browser tests rather than skipping them: it installs Debian's chromium when it can (root,
apt-get), as .ci/run does, and otherwise stops with the command that installs it. Fake `id` and `apt-get` on a
PATH of their own stand in for the machine; nothing is installed."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import ROOT

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def _script(folder, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def _make(bin_dir, *targets, dry_run=False):
    args = [MAKE, "-s", "-C", str(ROOT)] + (["-n"] if dry_run else []) + list(targets)
    return subprocess.run(args, env={"PATH": str(bin_dir)}, capture_output=True, text=True, timeout=60)


def test_make_test_checks_for_chromium_before_running_the_suite(tmp_path):
    done = _make(tmp_path, "test", dry_run=True)
    assert done.returncode == 0, done.stderr
    assert "command -v chromium" in done.stdout and "pytest" in done.stdout
    assert done.stdout.index("command -v chromium") < done.stdout.index("pytest")


def test_without_chromium_and_not_root_it_stops_with_the_command_that_installs_it(tmp_path):
    _script(tmp_path, "id", "echo 1000")
    done = _make(tmp_path, "browser")
    assert done.returncode != 0
    assert "sudo apt-get install -y chromium" in done.stderr and "-m 'not browser'" in done.stderr


def test_an_install_that_brings_no_chromium_fails(tmp_path):
    _script(tmp_path, "id", "echo 0")
    _script(tmp_path, "apt-get", "exit 0")
    done = _make(tmp_path, "browser")
    assert done.returncode != 0 and "could not install chromium" in done.stderr


def test_without_chromium_as_root_it_installs_it(tmp_path):
    _script(tmp_path, "id", "echo 0")
    # the fake apt-get records its arguments and "installs" a chromium
    _script(tmp_path, "apt-get", f'echo "$@" >> {tmp_path}/apt.log\n'
                                  f'[ "$1" = install ] && printf "#!/bin/sh\\n" > {tmp_path}/chromium '
                                  f'&& /bin/chmod +x {tmp_path}/chromium\nexit 0')
    done = _make(tmp_path, "browser")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "apt.log").read_text().splitlines() == ["update -q", "install -y -q chromium"]
    assert (tmp_path / "chromium").exists()
    again = _make(tmp_path, "browser")  # present now: nothing to do
    assert again.returncode == 0 and (tmp_path / "apt.log").read_text().count("install") == 1
