#!/usr/bin/env bash
# ansible-test sanity on a copy of the tracked files laid out as ansible_collections/defender/endpoint.
# validate-modules runs on the .py files only: it needs pwsh for .ps1 files, which these machines lack
# (the .py documentation of each .ps1 module is still validated). pslint needs pwsh too.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COPY="$ROOT/.build/ansible-test/ansible_collections/defender/endpoint"
rm -rf "$COPY" && mkdir -p "$COPY"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$COPY")
cd "$COPY"
git init -q && git add -A
filter() { grep -vE "WARNING: Location|^Collecting|Downloading|━|^Installing|^Successfully|Looking in|Requirement already|Attempting uninstall|Found existing|Uninstalling" || true; }
"$ROOT/.venv/bin/ansible-test" sanity --local --python 3.12 --skip-test validate-modules --skip-test pslint 2>&1 | filter
test "${PIPESTATUS[0]}" -eq 0
mapfile -t modules < <(ls plugins/modules/*.py)
"$ROOT/.venv/bin/ansible-test" sanity --local --python 3.12 --test validate-modules "${modules[@]}" 2>&1 | filter
test "${PIPESTATUS[0]}" -eq 0
# Collection docs as antsibull-docs reads them: markup, links, and every reference resolved inside this
# collection (no other collection is a dependency, so none may be referenced with M()/P() markup).
PATH="$ROOT/.venv/bin:$PATH" "$ROOT/.venv/bin/antsibull-docs" lint-collection-docs --plugin-docs \
  --validate-collection-refs all --disallow-unknown-collection-refs .
echo "sanity: passed"
