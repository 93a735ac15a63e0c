# -*- coding: utf-8 -*-

# Copyright: contributors to defender.endpoint
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # What every host-side module of the collection shares: an action plugin on the controller that talks
    # to the host through the internal executor, in at most two remote executions.
    DOCUMENTATION = r"""
options: {}
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
notes:
  - The action runs on the controller; the host runs the internal executor (M(defender.endpoint.mde_host) on
    Windows, M(defender.endpoint.mde_host_linux) on Linux), chosen from the connection's shell.
  - The arguments are checked as given, before the host is touched, each fault in one sentence - a list or
    dict where one value is expected, an empty value (except where empty has a meaning, as documented), a word
    where a boolean is expected, a number that is not whole - and options that contradict each other are refused.
  - Windows hosts need Windows PowerShell 5.1 (WMF 5.1 on Windows 7 SP1, 8.1 and Server 2008 R2 SP1), as Ansible does.
  - The tests of this collection run against a simulated lab modeled on Microsoft's documentation; behaviour on
    real hosts is exercised by the documented molecule scenarios (extensions/molecule/windows, linux).
"""
