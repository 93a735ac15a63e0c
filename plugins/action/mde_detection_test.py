# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of defender.endpoint.mde_detection_test: the optional detection test of R-52.

Windows: the documented PowerShell command line.  Linux: the EICAR antivirus test (no download) and, when the
user gives a controller-side copy of Microsoft's mde_linux_edr_diy script, that script.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail

from ansible_collections.defender.endpoint.plugins.plugin_utils.core import apply as _apply
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import files as _files
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import host_view as _host_view
from ansible_collections.defender.endpoint.plugins.plugin_utils.core import steps as _steps
from ansible_collections.defender.endpoint.plugins.plugin_utils.core.action import HostAction

ALERT = {"title": "Suspicious PowerShell command line", "severity": "Informational"}
LINUX_ALERT = {"title": "Enumeration of files with sensitive data", "severity": "Low"}
_NOT_ONBOARDED = ("the host is not onboarded ({what}): the test alert would reach no portal; onboard it first "
                  "(mde_onboard).")


def _edr_step(path: str, timeout: int) -> dict:
    script = _files.local_file(path, "edr_script", "give the script file itself (mde_linux_edr_diy.sh)",
                               "; download Microsoft's mde_linux_edr_diy script (R-52) and give its path")
    return {"name": "run_edr_script", "local_path": script["local_path"], "file_name": script["name"],
            "sha256": script["sha256"], "timeout": timeout}


class ActionModule(HostAction):
    ARGUMENT_SPEC = {
        "timeout": {"type": "int", "default": 60},
        "edr_script": {"type": "path"},
        "edr_timeout": {"type": "int", "default": 300},
    }

    def parse(self, run):
        if "edr_timeout" in self._task.args and not run.args["edr_script"]:
            raise AnsibleActionFail("edr_timeout is set but edr_script is not: the timeout bounds Microsoft's EDR "
                                    "test script; give edr_script or remove edr_timeout.")
        if run.args["timeout"] < 1 or run.args["edr_timeout"] < 1:
            raise AnsibleActionFail("timeout and edr_timeout are seconds, at least 1.")
        run.context["messages"] = []

    def plan(self, run):
        facts, args = run.facts, run.args
        if run.windows:
            if not _host_view.onboarded(facts):
                raise AnsibleActionFail(_NOT_ONBOARDED.format(what="Sense running, OnboardingState 1"))
            run.result.update(expected_alert=ALERT, org_id=_host_view.org_id(facts))
            return [{"name": "detection_test"}]
        if not _host_view.onboarded(facts):
            raise AnsibleActionFail(_NOT_ONBOARDED.format(what="mdatp health: licensed to an org"))
        health, steps = _host_view.mdatp_health(facts), []
        run.result.update(org_id=_host_view.org_id(facts), detected=None)
        if health.get("passive_mode_enabled") or not health.get("real_time_protection_enabled"):
            why = "passive mode is on" if health.get("passive_mode_enabled") else "real-time protection is off"
            run.result["av_test"] = "skipped"
            run.context["messages"].append(f"antivirus test skipped: {why}, so mdatp would not detect the EICAR "
                                           "test file")
        else:
            steps.append({"name": "av_detection", "timeout": args["timeout"]})
        if args.get("edr_script"):
            steps.append(_edr_step(args["edr_script"], args["edr_timeout"]))
            run.result["expected_alert"] = dict(LINUX_ALERT)
        return steps

    def timeout(self, run):
        return max(run.args["timeout"], run.args["edr_timeout"]) + 60 if not run.windows else 60

    def diff(self, run):
        return None

    def unchanged(self, run):
        return dict(run.result, changed=False, steps=[], msg="; ".join(run.context["messages"]) + " (R-52).")

    def planned(self, run):
        run.result.update(changed=True, steps=_apply.public_steps(run.steps, "planned"))
        if not run.windows:
            run.result["msg"] = "; ".join(run.context["messages"] + ["detection test planned"]) + "."
        return run.result

    def failed(self, run):
        raise AnsibleActionFail(_steps.failure_message(run.applied.failed))

    def done(self, run):
        result, messages = dict(run.result, changed=True, steps=self.records(run)), run.context["messages"]
        if run.windows:
            return dict(result, msg=f"detection test run: expect the alert '{ALERT['title']}' ({ALERT['severity']}) "
                                    "for this device in the Defender portal within minutes (R-52).")
        av = next((r for r in run.applied.records if r.get("name") == "av_detection"), None)
        result["detected"] = av.get("detected") if av else None
        if av is not None:
            result["av_test"] = "detected" if av.get("detected") else "not_detected"
            if av.get("detected"):
                messages.append("mdatp detected the EICAR test file (antivirus works)")
            else:
                result["failed"] = True
                messages.append(f"mdatp did not report the EICAR test file within {run.args['timeout']} s although "
                                "real-time protection is on: look at 'mdatp health' and 'mdatp threat list' on the "
                                "host")
        if run.args.get("edr_script"):
            messages.append(f"EDR test script run: expect the alert '{LINUX_ALERT['title']}' "
                            f"({LINUX_ALERT['severity']}) for this device in the Defender portal within minutes")
        return dict(result, msg="; ".join(messages) + " (R-52).")
