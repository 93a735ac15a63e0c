# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The options of the host modules that can plan from the facts mde_info read in the same play.
    DOCUMENTATION = r"""
options:
  assessment:
    description:
      - The result of M(defender.endpoint.mde_info) registered for this host earlier in the play. When it is at
        most O(assessment_max_age) seconds old, the plan is made from its facts and the host is not probed again -
        a host already in the wanted state then costs no remote execution here (one in the play, mde_info's), a
        host to change one (the apply).
      - For example, register the result of M(defender.endpoint.mde_info) as C(mde_assessment) and set this option
        to the template C({{ mde_assessment }}).
      - Refused before the host is touched when it is not an mde_info result, was read on another host
        (C(probed_host)) or holds the other platform's facts. Older than O(assessment_max_age), or missing what
        only a probe can answer (an installer already on the host with C(installer_remote=true),
        a Linux proxy with credentials compared on the host), the host is probed as without it.
      - A change on the host between mde_info and this task is not seen by the plan. The steps check what they
        can - an installer's presence, sha256 and signature before it runs, msiexec's own refusal of a product
        already installed, the MMA's C(SetProxyInfo), the scripts' own exit codes - and the result is always
        judged on the facts the apply reads back, never on the assessment. The onboarding script does not check
        which org the host is in, so where another tool may onboard hosts at the same time, keep the age short.
    type: dict
  assessment_max_age:
    description:
      - How old, in seconds, the O(assessment) may be (its C(probed_at), on the controller's clock); C(0)
        always probes.
    type: int
    default: 300
"""
