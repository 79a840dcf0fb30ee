#!/usr/bin/env bash
# Lints template.yaml with cfn-lint and `sam validate --lint`, offline.
# Uses the tools in $VENV (default: .venv in the repo root; see infra/requirements.txt).
# Exits non-zero if either check fails (cfn-lint fails on warnings too).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

venv="${VENV:-$repo_root/.venv}"
for tool in cfn-lint sam; do
  if [[ ! -x "$venv/bin/$tool" ]]; then
    echo "validate-template: $venv/bin/$tool not found;" \
      "create the venv with: python3 -m venv $venv && $venv/bin/pip install -r infra/requirements.txt" >&2
    exit 2
  fi
done

# Offline: no telemetry. Neither check needs AWS credentials or network.
export SAM_CLI_TELEMETRY=0

status=0

echo "== cfn-lint template.yaml"
if "$venv/bin/cfn-lint" template.yaml; then
  echo "cfn-lint: ok"
else
  echo "cfn-lint: FAILED" >&2
  status=1
fi

echo "== sam validate --lint"
if "$venv/bin/sam" validate --lint --template template.yaml --region us-east-1; then
  echo "sam validate: ok"
else
  echo "sam validate: FAILED" >&2
  status=1
fi

exit "$status"
