# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of defender.endpoint.mde_detection_test: the optional detection test of R-52.

Windows: the documented PowerShell command line.  Linux: the EICAR antivirus test (no download) and, when the
user gives a controller-side copy of Microsoft's mde_linux_edr_diy script, that script.
"""

from __future__ import annotations


from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.defender.endpoint.plugins.plugin_utils import _executor, _flow, _host_view, _steps

ALERT = {"title": "Suspicious PowerShell command line", "severity": "Informational"}
LINUX_ALERT = {"title": "Enumeration of files with sensitive data", "severity": "Low"}
ARGUMENT_SPEC = {
    "timeout": {"type": "int", "default": 60},
    "edr_script": {"type": "path"},
    "edr_timeout": {"type": "int", "default": 300},
}
_NOT_ONBOARDED = ("the host is not onboarded ({what}): the test alert would reach no portal; onboard it first "
                  "(mde_onboard).")


def _edr_step(path: str, timeout: int) -> dict:
    script = _flow.local_file(path, "edr_script", "give the script file itself (mde_linux_edr_diy.sh)",
                              "; download Microsoft's mde_linux_edr_diy script (R-52) and give its path")
    return {"name": "run_edr_script", "local_path": script["local_path"], "file_name": script["name"],
            "sha256": script["sha256"], "timeout": timeout}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False  # put_file straight into the probe's staging folder: no mkdtemp round trip

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        result = super().run(tmp, task_vars)
        del tmp
        args = _flow.arguments(self, ARGUMENT_SPEC)
        if "edr_timeout" in self._task.args and not args["edr_script"]:
            raise AnsibleActionFail("edr_timeout is set but edr_script is not: the timeout bounds Microsoft's EDR "
                                    "test script; give edr_script or remove edr_timeout.")
        if args["timeout"] < 1 or args["edr_timeout"] < 1:
            raise AnsibleActionFail("timeout and edr_timeout are seconds, at least 1.")
        if not _executor.is_windows(self):
            return dict(result, **self._linux(args, task_vars or {}))
        facts = _executor.probe(self, task_vars or {})
        if not _host_view.onboarded(facts):
            raise AnsibleActionFail(_NOT_ONBOARDED.format(what="Sense running, OnboardingState 1"))
        steps = [{"name": "detection_test"}]
        result.update(expected_alert=ALERT, org_id=_host_view.org_id(facts))
        if self._task.check_mode:
            return dict(result, changed=True, steps=_flow.public_steps(steps, "planned"))
        applied = _flow.apply(self, task_vars or {}, facts, steps, {}, 60)
        if applied.failed:
            raise AnsibleActionFail(_steps.failure_message(applied.failed))
        return dict(result, changed=True, steps=_flow.shown_records(applied.records),
                    msg=f"detection test run: expect the alert '{ALERT['title']}' ({ALERT['severity']}) for this "
                        "device in the Defender portal within minutes (R-52).")

    def _linux(self, args: dict, task_vars: dict) -> dict:
        facts = _executor.probe(self, task_vars)
        if not _host_view.onboarded(facts):
            raise AnsibleActionFail(_NOT_ONBOARDED.format(what="mdatp health: licensed to an org"))
        health = _host_view.mdatp_health(facts)
        result = {"org_id": _host_view.org_id(facts), "warnings": []}
        steps, messages = [], []
        if health.get("passive_mode_enabled") or not health.get("real_time_protection_enabled"):
            why = "passive mode is on" if health.get("passive_mode_enabled") else "real-time protection is off"
            result["av_test"] = "skipped"
            messages.append(f"antivirus test skipped: {why}, so mdatp would not detect the EICAR test file")
        else:
            steps.append({"name": "av_detection", "timeout": args["timeout"]})
        if args.get("edr_script"):
            steps.append(_edr_step(args["edr_script"], args["edr_timeout"]))
            result["expected_alert"] = dict(LINUX_ALERT)
        if not steps:
            del result["warnings"]
            return dict(result, changed=False, steps=[], detected=None, msg="; ".join(messages) + " (R-52).")
        if self._task.check_mode:
            return dict(result, changed=True, steps=_flow.public_steps(steps, "planned"), detected=None,
                        msg="; ".join(messages + ["detection test planned"]) + ".")
        applied = _flow.apply(self, task_vars, facts, steps, {}, max(args["timeout"], args["edr_timeout"]) + 60)
        if applied.failed:
            raise AnsibleActionFail(_steps.failure_message(applied.failed))
        av = next((r for r in applied.records if r.get("name") == "av_detection"), None)
        result["detected"] = av.get("detected") if av else None
        if av is not None:
            result["av_test"] = "detected" if av.get("detected") else "not_detected"
            if av.get("detected"):
                messages.append("mdatp detected the EICAR test file (antivirus works)")
            else:
                result["failed"] = True
                messages.append(f"mdatp did not report the EICAR test file within {args['timeout']} s although "
                                "real-time protection is on: look at 'mdatp health' and 'mdatp threat list' on the "
                                "host")
        if args.get("edr_script"):
            messages.append(f"EDR test script run: expect the alert '{LINUX_ALERT['title']}' "
                            f"({LINUX_ALERT['severity']}) for this device in the Defender portal within minutes")
        if not result["warnings"]:
            del result["warnings"]
        return dict(result, changed=True, steps=_flow.shown_records(applied.records),
                    msg="; ".join(messages) + " (R-52).")
