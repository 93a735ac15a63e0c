"""Syntax gate for the collection's PowerShell: parse every tracked .ps1 with tree-sitter-pwsh.

No pwsh runs on these machines, so this is the check that a .ps1 at least parses.  It is not
PSScriptAnalyzer: keep the PowerShell small and plain so that a reviewer can read all of it.
Exit 1, naming file, line and column, on any ERROR or MISSING node.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import tree_sitter
import tree_sitter_pwsh

# Files that are valid PowerShell but that the grammar wrongly flags: path -> reason. Keep it empty if you can.
ALLOWLIST: dict[str, str] = {}


def problems(tree) -> list[tuple[int, int, str]]:
    found = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            found.append((node.start_point[0] + 1, node.start_point[1] + 1, "missing " + node.type if node.is_missing else "syntax error"))
        stack.extend(node.children)
    return sorted(found)


def main(argv: list[str]) -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    files = argv or subprocess.run(["git", "ls-files", "*.ps1"], cwd=root, capture_output=True, text=True,
                                   check=True).stdout.split()
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_pwsh.language()))
    failed = 0
    for name in files:
        if name in ALLOWLIST:
            continue
        source = (root / name).read_bytes()
        for line, column, what in problems(parser.parse(source)):
            print(f"{name}:{line}:{column}: {what}")
            failed += 1
    print(f"pwsh syntax: {len(files)} file(s) parsed, {failed} problem(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
