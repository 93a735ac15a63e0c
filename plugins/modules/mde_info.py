#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: mde_info
short_description: Read a host's path to Microsoft Defender for Endpoint, its readiness and its onboarding state
version_added: 0.1.0
description:
  - Reads, in B(one) remote execution, the facts of a Windows or Linux host and returns its
    I(generation), i.e. the path it takes to Defender for Endpoint (R-01), decided from the
    host's own OS facts (name, version, build, product type, edition, service pack), never from a
    group name.
  - C(downlevel) is Windows 7 SP1 Pro/Enterprise, Windows 8.1 Pro/Enterprise and Windows Server
    2008 R2 SP1 (Microsoft Monitoring Agent); C(unified) is Windows Server 2012 R2 and 2016
    (md4ws.msi, then the onboarding package); C(modern) is Windows Server 2019 (Server Core too),
    2022, 2025 and Semi-Annual Channel 1803 or later (onboarding package only); C(linux) is a Linux
    distribution Defender for Endpoint supports (mdatp); anything else is C(unsupported), with a
    sentence naming the OS and the supported list.
  - Lists the prerequisites the host still misses for its generation (R-10 to R-13), each with
    what to do, and whether the host is already onboarded, to which organization, and in which
    Defender Antivirus mode.
  - Never changes the host. Works the same in check mode. No C(gather_facts) is needed.
options:
  extra_av_services:
    description:
      - Windows service names of third-party anti-malware products to look for, in addition to the
        built-in list (CrowdStrike, SentinelOne, McAfee/Trellix, ESET, Sophos, Symantec, Trend Micro,
        Cylance, Carbon Black, Webroot, Kaspersky, Bitdefender, Palo Alto Cortex, Cynet).
      - A third-party product means Defender Antivirus must run in passive mode (R-14); it is
        reported in RV(prerequisite_warnings).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - defender.endpoint.host_action
attributes:
  check_mode:
    support: full
    details: The module never changes the host.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: [windows, posix]
seealso:
  - module: defender.endpoint.mde_host
  - module: defender.endpoint.mde_host_linux
author:
  - defender.endpoint maintainers (@defender-endpoint)
"""

EXAMPLES = r"""
- name: Read the host's generation and readiness
  defender.endpoint.mde_info:
  register: mde

- name: Route the host by generation
  ansible.builtin.group_by:
    key: "mde_{{ mde.generation }}"

- name: Stop early on a host that misses prerequisites
  ansible.builtin.fail:
    msg: "{{ mde.missing_prerequisites | map(attribute='remedy') | join('; ') }}"
  when: not mde.ready and mde.generation != 'unsupported'

- name: Look for an in-house anti-malware service too
  defender.endpoint.mde_info:
    extra_av_services:
      - ContosoShield
"""

RETURN = r"""
generation:
  description: The host's path to Defender for Endpoint.
  returned: always
  type: str
  choices: [downlevel, unified, modern, linux, unsupported]
  sample: unified
unsupported_reason:
  description: Why the host is unsupported, naming its OS and the supported list; null otherwise.
  returned: always
  type: str
  sample: "host runs Windows Server 2012 (version 6.2.9200, build 9200), which Defender for Endpoint does not support; supported: ..."
os:
  description: The OS facts the generation was decided from, plus a readable C(label).
  returned: always
  type: dict
  sample: {"label": "Windows Server 2012 R2 (version 6.3.9600, build 9600)", "version": "6.3.9600", "build": 9600, "product_type": 3}
onboarded:
  description:
    - Windows, Status C(OnboardingState=1) and a running sensor (Sense, or MsSenseS.exe under the MMA).
    - Linux, C(mdatp health) reports C(licensed=true) with an org id.
  returned: always
  type: bool
  sample: false
org_id:
  description: The organization (tenant) id the host is onboarded to, lower case; null when none.
  returned: always
  type: str
  sample: 00000000-1111-4222-8333-444444444444
av_running_mode:
  description: Defender Antivirus mode, normalized from C(AMRunningMode) or C(mdatp health); null when unknown.
  returned: always
  type: str
  sample: passive
missing_prerequisites:
  description: What the host misses for its generation; empty when ready. Each item blocks onboarding.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Short name of the prerequisite (a KB number or a word).
      type: str
    requirement:
      description: What is required.
      type: str
    found:
      description: What was found instead.
      type: str
    remedy:
      description: What to do.
      type: str
    spec:
      description: The requirement it comes from, an R-xx number listed in the collection's docs/requirements.md.
      type: str
  sample:
    - id: KB3080149
      requirement: KB3080149 (Tdh.dll 6.3.9600.17958 or later)
      found: Tdh.dll 6.3.9600.17000
      remedy: install the monthly rollup or KB3080149
      spec: R-11
prerequisite_warnings:
  description: Findings that do not block onboarding (third-party anti-malware, retired MMA, missing optional updates).
  returned: always
  type: list
  elements: str
  sample: []
ready:
  description: True when the host is supported and misses no prerequisite.
  returned: always
  type: bool
  sample: true
defender_for_identity:
  description:
    - On a domain controller (product type 2), its Microsoft Defender for Identity sensor (R-80); null on other hosts.
    - The v2 sensor is seen by its services C(AATPSensor) and C(AATPSensorUpdater). The v3 sensor runs inside
      Defender for Endpoint on Windows Server 2019 and later; the host is C(ready) for it when
      C(AATPSensorUpdater) and C(Sense) run, C(OnboardingInfo) is present and C(SenseMachineId) is set.
    - The two portal switches of the integration cannot be read from the host (docs/defender-for-identity.md).
  returned: always
  type: dict
  contains:
    domain_controller: {description: Always true (the key is null on other hosts)., type: bool}
    sensor: {description: "C(v2), C(v3), or null when neither is installed or ready.", type: str}
    version: {description: The v2 sensor's version folder; null when unknown., type: str}
    running: {description: The sensor runs., type: bool}
    ready: {description: The sensor runs (v2) or every v3 condition holds., type: bool}
    reason: {description: One sentence on what was found and what is missing., type: str}
  sample: {domain_controller: true, sensor: v2, version: 2.230.17240.25226, running: true, ready: true,
           reason: "the v2 sensor runs (AATPSensor and AATPSensorUpdater)"}
probed_at:
  description:
    - When the facts were read, in seconds since the epoch on the controller's clock. With C(probed_host), lets
      M(defender.endpoint.mde_onboard), M(defender.endpoint.defender_passive_mode) and
      M(defender.endpoint.mma_workspace) take this whole result as their
      O(defender.endpoint.mde_onboard#module:assessment) instead of probing the host again.
  returned: always
  type: float
  sample: 1764650000.123
probed_host:
  description: The inventory name of the host the facts were read on.
  returned: always
  type: str
  sample: web01
host_facts:
  description:
    - The raw facts of the probe, as the host's executor returned them (on Windows the OS, hotfixes, .NET
      release, UCRT and Tdh.dll versions, services, Defender state, MDE registry values, installed products,
      MMA workspaces, pending reboot, free disk; on Linux the distribution, mdatp and its health, the
      onboarding files, the managed configuration and fanotify holders).
    - Their keys, types and meaning are documented once, in the C(facts) return of the executors; see
      ansible-doc defender.endpoint.mde_host / mde_host_linux.
    - No secret is ever part of it (the onboarding blob is reduced to its org id on the host).
  returned: always
  type: dict
  sample: {"platform": "windows", "os": {"version": "6.3.9600"}, "hotfixes": ["KB3080149"]}
"""
