# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The skeleton of every host-side action plugin: validate and parse -> probe -> plan -> diff / check mode ->
apply -> verify -> result, each stage a hook a module's action plugin overrides.

Internal use only: the interface may change without notice.

The host is reached at most twice: one probe, and one apply when the plan has steps and check mode is off.
Everything a hook decides is a pure function of the arguments and the probe's facts.
"""

from __future__ import annotations

import dataclasses
import time

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import executor as _executor
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import apply as _apply
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import inputs as _inputs
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import host_view as _host_view
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import steps as _steps
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.errors import Refused

display = Display()

# The options of the modules that can take the facts mde_info read in the same play (one probe per host per run).
ASSESSMENT_SPEC = {
    "assessment": {"type": "dict"},
    "assessment_max_age": {"type": "int", "default": 300},
}


@dataclasses.dataclass
class Run:
    """One task on one host, as it goes through the stages."""

    args: dict
    task_vars: dict
    windows: bool
    result: dict
    context: dict = dataclasses.field(default_factory=dict)   # what parse() found (packages, files, ...)
    facts: dict = dataclasses.field(default_factory=dict)
    steps: list = dataclasses.field(default_factory=list)
    applied: _apply.Applied | None = None


class HostAction(ActionBase):
    """Subclasses declare ``ARGUMENT_SPEC`` (with ``MAY_BE_EMPTY`` and ``CONSTRAINTS``: required_if, required_by,
    mutually_exclusive) and override the hooks they need."""

    TRANSFERS_FILES = False   # files go by put_file straight into the probe's staging folder
    ARGUMENT_SPEC: dict = {}
    MAY_BE_EMPTY: tuple = ()
    CONSTRAINTS: dict = {}
    APPLY_TIMEOUT = 60
    NUMBERED_DIFF = False

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        result = super().run(tmp, task_vars)
        del tmp
        args = self.arguments()
        run = Run(args, task_vars or {}, _executor.is_windows(self), result)
        self.parse(run)
        run.facts = self.probe(run)
        try:
            run.steps = self.plan(run)
        except Refused as exc:
            self._trace(run, refused=str(exc))
            return self.refused(run, exc)
        self._trace(run)
        if run.steps and self._task.diff:
            diff = self.diff(run)
            if diff:
                result["diff"] = diff
        if not run.steps:
            return self.unchanged(run)
        if self._task.check_mode:
            return self.planned(run)
        run.applied = _apply.apply(self, run.task_vars, run.facts, run.steps, self.secrets(run), self.timeout(run),
                                   args.get("extra_av_services") or ())
        run.facts = run.applied.facts
        if run.applied.failed:
            return self.failed(run)
        return self.done(run)

    def arguments(self) -> dict:
        """The task's arguments, validated: the shapes Ansible would convert silently first (one sentence each),
        then the argument spec with its declared constraints (required_if, required_by, mutually_exclusive)."""
        try:
            _inputs.check_raw(self._task.args, self.ARGUMENT_SPEC, self.MAY_BE_EMPTY)
        except _inputs.InputError as exc:
            raise AnsibleActionFail(str(exc)) from None
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC, **self.CONSTRAINTS)
        if args.get("assessment_max_age", 0) < 0:
            raise AnsibleActionFail("assessment_max_age is seconds and cannot be negative (0 always probes again).")
        return args

    # ---- hooks: inputs, host, plan ----

    def parse(self, run: Run) -> None:
        """Checks and reads what the argument spec cannot (files, packages, contradictions), before the host."""

    def probe(self, run: Run) -> dict:
        return self.facts_or_probe(run)

    def facts_or_probe(self, run: Run, secrets=None, paths=()) -> dict:
        """The facts mde_info read in this play (option ``assessment``) when they are fresh and answer what the plan
        asks, else one probe.  ``secrets`` and ``paths`` are what only a probe can compare or look at."""
        given = self.assessment(run)
        if given is not None:
            host_paths = {p.get("path") for p in given.get("host_paths") or []}
            if not secrets and set(paths) <= host_paths:
                return given
            display.vvv(f"{self._task.action}: assessment does not hold what the plan needs (a comparison with a "
                        "secret, or an installer path on the host): probing",
                        host=run.task_vars.get("inventory_hostname"))
        return _executor.probe(self, run.task_vars, run.args.get("extra_av_services") or (), secrets, paths)

    def assessment(self, run: Run) -> dict | None:
        """The host facts of option ``assessment``, checked: mde_info's result, for this host and platform, at most
        ``assessment_max_age`` seconds old (older: None, the host is probed again)."""
        given = run.args.get("assessment")
        if not given:
            return None
        facts, probed_at, host = given.get("host_facts"), given.get("probed_at"), given.get("probed_host")
        if not isinstance(facts, dict) or not isinstance(probed_at, (int, float)) or not host:
            raise AnsibleActionFail("assessment is not a result of defender.endpoint.mde_info (it needs host_facts, "
                                    "probed_at and probed_host): register mde_info's result and give it whole.")
        here = run.task_vars.get("inventory_hostname")
        if here and host != here:
            raise AnsibleActionFail(f"assessment was read on host {host}, not on {here}: give this host's own "
                                    "mde_info result (the registered variable, not another host's hostvars).")
        if (facts.get("platform") == "linux") == run.windows:
            raise AnsibleActionFail(f"assessment holds {facts.get('platform')} facts but this host is reached as "
                                    f"{'Windows' if run.windows else 'Linux'}: give this host's own mde_info result.")
        age = time.time() - probed_at
        if age < -60 or age > run.args["assessment_max_age"]:
            display.vvv(f"{self._task.action}: assessment is {age:.0f} s old, more than assessment_max_age "
                        f"({run.args['assessment_max_age']} s): probing again", host=here)
            return None
        display.vvv(f"{self._task.action}: using the facts mde_info read {age:.0f} s ago (no probe)", host=here)
        return facts

    def plan(self, run: Run) -> list[dict]:
        """The steps, from the arguments and the facts alone; raise Refused to change nothing."""
        del run
        return []

    def refused(self, run: Run, exc: Refused) -> dict:
        del run
        raise AnsibleActionFail(str(exc)) from None

    def secrets(self, run: Run) -> dict:
        del run
        return {}

    def timeout(self, run: Run) -> int:
        del run
        return self.APPLY_TIMEOUT

    # ---- hooks: what the result shows ----

    def view(self, run: Run) -> dict:
        """The part of the host's view the diff shows."""
        return self.state(run)

    def org_id(self, run: Run) -> str | None:
        del run
        return None

    def diff(self, run: Run) -> dict | None:
        before = self.view(run)
        lines = [_steps.describe(s) for s in run.steps]
        if self.NUMBERED_DIFF:
            lines = [f"{i}. {line}" for i, line in enumerate(lines, 1)]
        return {"before": before, "after": _steps.expected_view(before, run.steps, self.org_id(run)),
                "prepared": "\n".join(lines)}

    def state(self, run: Run) -> dict:
        """What the result reports of the host, from ``run.facts``."""
        del run
        return {}

    def outcome(self, run: Run) -> tuple[list[str], list[str]]:
        """(problems, warnings) of the host as it is now: a problem fails the task."""
        del run
        return [], []

    # ---- hooks: the ends of the flow ----

    def unchanged(self, run: Run) -> dict:
        return self.verify(run, changed=False)

    def planned(self, run: Run) -> dict:
        run.result.update(changed=True, steps=_apply.public_steps(run.steps, "planned"), **self.state(run))
        return run.result

    def failed(self, run: Run) -> dict:
        failed = run.applied.failed
        run.result.update(failed=True, changed=False, failed_step=failed["name"], steps=self.records(run),
                          msg=_steps.failure_message(failed), **self.state(run))
        return run.result

    def done(self, run: Run) -> dict:
        run.result["steps"] = self.records(run)
        return self.verify(run, changed=True)

    def verify(self, run: Run, changed: bool) -> dict:
        problems, warnings = self.outcome(run)
        run.result.update(changed=changed, **self.state(run))
        if warnings:
            run.result["warnings"] = run.result.get("warnings", []) + warnings
        if problems:
            run.result.update(failed=True, msg="; ".join(problems).rstrip(".") + ".")
        return run.result

    @staticmethod
    def records(run: Run) -> list[dict]:
        return _apply.shown_records(run.applied.records)

    def _trace(self, run: Run, refused: str | None = None) -> None:
        """The plan at -vvv: what the probe found, and why each step was chosen (or why none, or the refusal)."""
        if display.verbosity < 3:
            return
        host = run.task_vars.get("inventory_hostname")
        facts = run.facts
        display.vvv(f"{self._task.action}: probe found onboarded={_host_view.onboarded(facts)}, "
                    f"org_id={_host_view.org_id(facts)}, av_running_mode={_host_view.av_running_mode(facts)}",
                    host=host)
        if refused:
            display.vvv(f"{self._task.action}: plan refused, nothing will change: {refused}", host=host)
            return
        if not run.steps:
            display.vvv(f"{self._task.action}: plan has no step: the host already is as asked", host=host)
        for index, step in enumerate(run.steps, 1):
            entry = _steps.STEPS.get(step["name"])
            why = f" - because {entry.why}" if entry and entry.why else ""
            display.vvv(f"{self._task.action}: plan step {index}: {_steps.describe(step)}{why}", host=host)
