# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of defender.endpoint.mde_detection_test: the optional detection test of SPEC R-52 (Windows)."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.defender.endpoint.plugins.plugin_utils import _executor, _flow, _host_view, _steps

ALERT = {"title": "Suspicious PowerShell command line", "severity": "Informational"}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        self._supports_async = False
        result = super().run(tmp, task_vars)
        del tmp
        self.validate_argument_spec(argument_spec={})
        if not _executor.is_windows(self):
            raise AnsibleActionFail("the Linux detection test (Microsoft's mde_linux_edr_diy script, R-52) is not "
                                    "available in this version; run it by hand on one host.")
        facts = _executor.probe(self, task_vars or {})
        if not _host_view.onboarded(facts):
            raise AnsibleActionFail("the host is not onboarded (Sense running, OnboardingState 1): the test alert "
                                    "would reach no portal; onboard it first (mde_onboard).")
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
