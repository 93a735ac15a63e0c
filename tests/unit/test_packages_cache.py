# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A package parsed once per run, not once per host (issue 13): the verdict cache of the package parser, in the
process and in the run's local temporary directory (shared by the workers Ansible forks per host and task)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import pathlib
import stat
import subprocess
import sys
import time

import pytest

import package_factory
from ansible_collections.defender.endpoint.plugins.plugin_utils.packages import parse
from ansible_collections.defender.endpoint.plugins.plugin_utils.packages.parse import PackageError, parse_package

ORG = package_factory.FAKE_ORG
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def run_tmp(tmp_path, monkeypatch):
    """The run's local temporary directory, and a count of the real parses."""
    base = tmp_path / "ansible-local-1234"
    base.mkdir(mode=0o700)
    monkeypatch.setattr(parse, "_run_tmp_dir", lambda: str(base))
    calls = []
    real = parse._parse_bytes

    def counting(path, raw, expect_platform):
        calls.append(path)
        return real(path, raw, expect_platform)

    monkeypatch.setattr(parse, "_parse_bytes", counting)
    parse.clear_cache()
    yield base, calls
    parse.clear_cache()


def _write(path, text):
    path.write_text(text, encoding="utf-8", newline="")
    return str(path)


def test_same_file_twice_is_parsed_once(run_tmp, tmp_path):
    _base, calls = run_tmp
    path = _write(tmp_path / "WindowsDefenderATPOnboardingScript.cmd", package_factory.onboarding_cmd())
    first = parse_package(path, expect_kind="onboarding")
    second = parse_package(path, expect_kind="onboarding", expect_platform="windows")
    third = parse_package(path, expect_kind="onboarding", expect_platform="windows")
    assert calls == [path, path]          # one parse per platform asked for (it picks a zip's member)
    assert first == second == third and first.script == third.script and first.org_id == ORG
    with pytest.raises(dataclasses.FrozenInstanceError):
        third.script = "tampered"         # a caller cannot alter the verdict the next host gets
    assert parse_package(path, expect_platform="windows").script.count("\r\n") > 10


def test_changed_content_of_the_same_size_is_parsed_again(run_tmp, tmp_path):
    _base, calls = run_tmp
    path = tmp_path / "WindowsDefenderATPOnboardingScript.cmd"
    text = package_factory.onboarding_cmd()
    _write(path, text)
    stamp = os.stat(path)
    assert parse_package(str(path)).org_id == ORG
    other = text.replace(ORG, package_factory.OTHER_ORG)
    assert len(other.encode()) == len(text.encode()) and other != text
    _write(path, other)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))   # same size, same mtime: only the bytes differ
    assert parse_package(str(path)).org_id == package_factory.OTHER_ORG
    assert len(calls) == 2


def test_unreadable_file_is_refused_and_not_cached(run_tmp, tmp_path):
    base, calls = run_tmp
    if os.getuid() == 0:
        pytest.skip("root reads a file whatever its mode")
    path = _write(tmp_path / "WindowsDefenderATPOnboardingScript.cmd", package_factory.onboarding_cmd())
    os.chmod(path, 0)
    try:
        with pytest.raises(PackageError) as refused:
            parse_package(path)
    finally:
        os.chmod(path, 0o600)
    text = str(refused.value)
    assert "cannot be read on the controller" in text and text.count(". ") == 0 and text.endswith(".")
    assert calls == []
    assert parse_package(path).org_id == ORG and calls == [path]


def test_unreadable_file_error_is_never_cached(run_tmp, tmp_path, monkeypatch):
    """Whoever runs the tests (root reads any file): a read that fails gives the one sentence, then the file that
    can be read again is parsed, not answered from a cache."""
    _base, calls = run_tmp
    path = _write(tmp_path / "WindowsDefenderATPOnboardingScript.cmd", package_factory.onboarding_cmd())
    real_open = open

    def failing_open(file, mode="r", *args, **kwargs):
        if str(file) == path and "b" in mode:
            raise PermissionError(13, "Permission denied")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", failing_open)
    for _attempt in range(2):
        with pytest.raises(PackageError, match=r"cannot be read on the controller \(Permission denied\); check its "
                                               r"permissions for the user that runs Ansible\.$"):
            parse_package(path)
    monkeypatch.setattr("builtins.open", real_open)
    assert calls == []
    assert parse_package(path).org_id == ORG and calls == [path]


def test_refusals_are_cached_and_judgement_runs_each_time(run_tmp, tmp_path):
    """The file's verdict is kept, refusal included; the kind asked for is judged on every call."""
    _base, calls = run_tmp
    local = _write(tmp_path / "WindowsDefenderATPLocalOnboardingScript.cmd",
                   package_factory.onboarding_cmd(interactive=True))
    for _attempt in range(2):
        with pytest.raises(PackageError, match="interactive 'Local Script' onboarding"):
            parse_package(local)
    empty = _write(tmp_path / "WindowsDefenderATPOnboardingScript.cmd", "@echo off\r\necho nothing\r\n")
    for _attempt in range(2):
        with pytest.raises(PackageError, match="holds no signed onboarding or offboarding blob"):
            parse_package(empty)
    good = _write(tmp_path / "MicrosoftDefenderATPOnboardingLinuxServer.py", package_factory.linux_script())
    assert parse_package(good).platform == "linux"
    with pytest.raises(PackageError, match="is an onboarding package where an offboarding package is needed"):
        parse_package(good, expect_kind="offboarding")
    with pytest.raises(PackageError, match="but this host runs windows"):
        parse_package(good, expect_platform="windows")
    assert calls == [local, empty, good, good]


def test_expiry_is_judged_on_every_call(run_tmp, tmp_path):
    """An offboarding package that expires during a run is refused from then on, whatever the cache holds."""
    _base, calls = run_tmp
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1.5)
    path = _write(tmp_path / "WindowsDefenderATPOffboardingScript_valid_until_{0:%Y-%m-%d}.cmd".format(expires),
                  package_factory.offboarding_cmd(ORG, expires))
    assert parse_package(path).kind == "offboarding"
    time.sleep(max(0.0, (expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) + 0.1)
    with pytest.raises(PackageError, match="expired on"):
        parse_package(path)
    assert len(calls) == 1


def test_the_disk_cache_serves_another_process_and_holds_no_blob(run_tmp, tmp_path):
    """A verdict on disk (0700 directory, 0600 file) serves a fresh process (a forked worker's view): the package
    comes back whole (its script read again from the file), and the record holds neither blob nor script."""
    base, calls = run_tmp
    zipped = package_factory.write_zip(str(tmp_path / "WindowsDefenderATPOnboardingPackage.zip"), {
        "WindowsDefenderATPOnboardingScript.cmd": package_factory.onboarding_cmd()})
    local = _write(tmp_path / "WindowsDefenderATPLocalOnboardingScript.cmd",
                   package_factory.onboarding_cmd(interactive=True))
    parsed = parse_package(zipped)
    with pytest.raises(PackageError) as refused:
        parse_package(local)
    directory = base / "defender.endpoint-parse"
    entries = sorted(directory.iterdir())
    assert len(entries) == 2 and len(calls) == 2
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert {stat.S_IMODE(e.stat().st_mode) for e in entries} == {0o600}
    stored = "".join(e.read_text() for e in entries)
    assert package_factory.fake_signature(ORG) not in stored and '"script"' not in stored
    assert "sha256sig" not in stored and "@echo off" not in stored
    assert json.loads(entries[0].read_text())["format"] == 1

    parse.clear_cache()                     # as a new worker process starts: nothing in memory
    again = parse_package(zipped)
    assert again == parsed and again.script == parsed.script and again.summary() == parsed.summary()
    with pytest.raises(PackageError) as refused_again:
        parse_package(local)
    assert str(refused_again.value) == str(refused.value)
    assert len(calls) == 2

    probe = ("import sys, json; sys.path.insert(0, {lab!r}); from ansible.plugins.loader import init_plugin_loader;"
             "init_plugin_loader([{col!r}]);"
             "from ansible_collections.defender.endpoint.plugins.plugin_utils.packages import parse as p;"
             "p._run_tmp_dir = lambda: {base!r}; real = p._parse_bytes; n = [];"
             "p._parse_bytes = lambda *a: n.append(1) or real(*a);"
             "i = p.parse_package({path!r}); print(json.dumps([len(n), i.org_id, i.script == {script!r}]))").format(
                 lab=str(ROOT / "tests" / "lab"), col=str(ROOT / ".build" / "collections"), base=str(base),
                 path=zipped, script=parsed.script)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [0, ORG, True]


def test_a_damaged_or_foreign_entry_is_a_miss(run_tmp, tmp_path):
    base, calls = run_tmp
    path = _write(tmp_path / "MicrosoftDefenderATPOnboardingLinuxServer.py", package_factory.linux_script())
    parse_package(path)
    (entry,) = (base / "defender.endpoint-parse").iterdir()
    entry.write_text('{"format": 1, "info": {"kind": "onboarding"}}')
    parse.clear_cache()
    assert parse_package(path).org_id == ORG and len(calls) == 2
    os.chmod(entry, 0o644)                   # another user could have written it: not trusted
    parse.clear_cache()
    assert parse_package(path).org_id == ORG and len(calls) == 3


def test_unsafe_directory_means_no_disk_cache(run_tmp, tmp_path):
    base, calls = run_tmp
    (base / "defender.endpoint-parse").mkdir(mode=0o755)
    os.chmod(base / "defender.endpoint-parse", 0o755)
    path = _write(tmp_path / "MicrosoftDefenderATPOnboardingLinuxServer.py", package_factory.linux_script())
    parse_package(path)
    assert list((base / "defender.endpoint-parse").iterdir()) == []
    parse.clear_cache()
    parse_package(path)
    assert len(calls) == 2


def test_memory_cache_is_bounded(run_tmp, tmp_path, monkeypatch):
    _base, calls = run_tmp
    monkeypatch.setattr(parse, "_run_tmp_dir", lambda: None)
    monkeypatch.setattr(parse, "_CACHE_SIZE", 2)
    paths = [_write(tmp_path / "p{0}.py".format(i), package_factory.linux_script()) for i in range(3)]
    for path in paths:
        parse_package(path)
    parse_package(paths[2])
    parse_package(paths[0])
    assert calls == paths + [paths[0]] and len(parse._memory) == 2
