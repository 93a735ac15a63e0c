"""The simulated lab: a model of Windows and Linux hosts as Defender for Endpoint sees them.

Test-only.  Built from Microsoft's documentation (docs/requirements.md), never from the collection's planning code
(nothing here imports ``ansible_collections.defender.endpoint``).
"""
