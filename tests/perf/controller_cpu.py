"""Controller CPU of playbooks/onboard.yml on a generated lab fleet, an older commit against this checkout.

For each fleet size, both trees run the same playbook on the same generated inventory (the lab's profiles cycled,
fresh hosts, the generated packages as fleet-wide settings), one after the other, with the same lab (this
checkout's tests/lab, so that only the collection differs). The figure is user + system CPU of the whole process
tree of ansible-playbook (its forked workers included: they are waited for, so their time lands in the rusage
that os.wait4 returns).

    . scripts/env.sh
    python tests/perf/controller_cpu.py --old <commit> [--new <commit>] --hosts 100,500 --forks 25 [--json out.json]

Each commit is checked out with `git worktree add --detach` into a temporary folder (removed afterwards); without
--new, the new tree is this checkout as it is.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "lab"))

import package_factory  # noqa: E402  pylint: disable=wrong-import-position
from labmodel import profiles  # noqa: E402  pylint: disable=wrong-import-position


def write_inventory(path: pathlib.Path, count: int, fleet_vars: dict) -> pathlib.Path:
    """count hosts, the lab's profiles cycled, split into the lab's two groups; the fleet-wide settings in all."""
    windows, linux = {}, {}
    for index, profile in zip(range(count), itertools.cycle(sorted(profiles.PROFILES))):
        name = f"h{index:04d}-{profile.replace('_', '-')}"
        group = windows if profiles.PROFILES[profile]["platform"] == "windows" else linux
        group[name] = {"mde_lab_profile": profile}
    inventory = {"all": {"vars": fleet_vars, "children": {
        "lab_windows": {"vars": {"ansible_connection": "mde_lab"}, "hosts": windows},
        "lab_linux": {"vars": {"ansible_connection": "mde_lab", "ansible_python_interpreter": "/usr/bin/python3"},
                      "hosts": linux},
    }}}
    path.write_text(json.dumps(inventory))
    return path


def collection_tree(base: pathlib.Path, source: pathlib.Path) -> pathlib.Path:
    """An ANSIBLE_COLLECTIONS_PATH whose defender.endpoint is the given checkout."""
    namespace = base / "ansible_collections" / "defender"
    namespace.mkdir(parents=True, exist_ok=True)
    link = namespace / "endpoint"
    if not link.exists():
        link.symlink_to(source)
    return base


def run_once(source: pathlib.Path, collections: pathlib.Path, lab: pathlib.Path, inventory: pathlib.Path,
             forks: int, work: pathlib.Path) -> dict:
    """One ansible-playbook run; its process tree's CPU, wall time, exit code and the report's host count."""
    state, report = work / "state", work / "report"
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_CONNECTION_PLUGINS": str(lab / "connection_plugins"),
        "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "False", "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_HOME": str(work / "ansible-home"), "MDE_LAB_STATE_DIR": str(state), "MDE_REPORT_DIR": str(report),
    })
    cmd = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
           str(source / "playbooks" / "onboard.yml")]
    with open(work / "stdout.txt", "wb") as out:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(work))  # pylint: disable=consider-using-with
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    report_file = report / "report.json"
    hosts = len(json.loads(report_file.read_text())["hosts"]) if report_file.exists() else None
    if hosts is None:
        sys.stderr.write((work / "stdout.txt").read_text()[-3000:])
    return {"cpu": round(usage.ru_utime + usage.ru_stime, 2), "user": round(usage.ru_utime, 2),
            "sys": round(usage.ru_stime, 2), "wall": round(wall, 1), "rc": proc.returncode, "report_hosts": hosts}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--old", required=True, help="the commit to compare with (checked out in a worktree)")
    parser.add_argument("--new", help="the commit to measure (default: this checkout as it is)")
    parser.add_argument("--hosts", default="100,500", help="fleet sizes, comma-separated (default 100,500)")
    parser.add_argument("--forks", type=int, default=25)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.hosts.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="mde-perf-") as tmp:
        base = pathlib.Path(tmp)
        worktrees = {"old": args.old, "new": args.new}
        sources = {}
        for label, commit in worktrees.items():
            sources[label] = ROOT
            if commit:
                sources[label] = base / f"{label}-tree"
                subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(sources[label]), commit],
                               check=True, capture_output=True)
        lab = sources["new"] / "tests" / "lab"
        try:
            packages = package_factory.write_set(str(base / "packages"))
            fleet_vars = package_factory.fleet_vars(packages)
            trees = {label: (source, collection_tree(base / f"{label}-collections", source))
                     for label, source in sources.items()}
            for size in sizes:
                inventory = write_inventory(base / f"inventory-{size}.json", size, fleet_vars)
                for label, (source, collections) in trees.items():
                    work = base / f"{label}-{size}"
                    work.mkdir()
                    figures = run_once(source, collections, lab, inventory, args.forks, work)
                    figures.update(tree=label, hosts=size, cpu_per_host=round(figures["cpu"] / size, 3))
                    results.append(figures)
                    print(json.dumps(figures), flush=True)
        finally:
            for label, commit in worktrees.items():
                if commit:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(sources[label])],
                                   check=False, capture_output=True)
    print(f"{'hosts':>6} {'tree':>4} {'cpu s':>8} {'cpu/host':>9} {'wall s':>7} {'rc':>3} {'report':>6}")
    for r in results:
        print(f"{r['hosts']:>6} {r['tree']:>4} {r['cpu']:>8} {r['cpu_per_host']:>9} {r['wall']:>7} {r['rc']:>3} "
              f"{str(r['report_hosts']):>6}")
    for size in sizes:
        old_r, new_r = (next(r for r in results if r["hosts"] == size and r["tree"] == t) for t in ("old", "new"))
        print(f"{size} hosts: new/old CPU = {new_r['cpu'] / old_r['cpu']:.2f}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
