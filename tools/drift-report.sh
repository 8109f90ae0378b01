#!/usr/bin/env bash
# Reports a drift check (npm run drift) where the team sees it; run by .github/workflows/drift.yml.
#   bash tools/drift-report.sh STACK STATUS OUTPUT_FILE
# STATUS is the check's exit status (0 clean, 1 drift, anything else or empty: it could not
# run). Drift or a failed check opens the issue labelled `drift` for the stack (or comments
# on the one already open); a clean check closes it. The output goes to the job summary
# ($GITHUB_STEP_SUMMARY) too. Uses the gh CLI with GH_TOKEN. The output names resources and
# variables only, never a value (tools/drift.ts), so it may be posted.
# Exit status: STATUS (1 when it was empty), so the job shows the check's result.
set -euo pipefail

stack=${1:?usage: drift-report.sh STACK STATUS OUTPUT_FILE}
status=${2:-}
output_file=${3:?usage: drift-report.sh STACK STATUS OUTPUT_FILE}
output=$(cat "$output_file" 2>/dev/null || echo "(no output: the check did not start)")
run_url="${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:-}/actions/runs/${GITHUB_RUN_ID:-}"
title="Drift on $stack"
today=$(date -u +%Y-%m-%d)

case $status in
    0) verdict="no drift" ;;
    1) verdict="drift found" ;;
    *) verdict="the check could not run (exit ${status:-none})" ;;
esac
fence='~~~'
body=$(printf '%s on %s, %s ([run](%s)):\n\n%s\n%s\n%s\n\nWhat to do: INFRASTRUCTURE.md, Drift.\n' "$verdict" "$stack" "$today" "$run_url" "$fence" "$output" "$fence")

if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
    printf '## Drift check of %s: %s\n\n%s\n%s\n%s\n' "$stack" "$verdict" "$fence" "$output" "$fence" >>"$GITHUB_STEP_SUMMARY"
fi

open_issue=$(gh issue list --label drift --state open --search "\"$title\" in:title" --json number --jq '.[0].number // empty')
if [[ $status == 0 ]]; then
    if [[ -n $open_issue ]]; then
        gh issue close "$open_issue" --comment "$body"
        echo "drift-report: closed issue #$open_issue: $stack is clean again"
    fi
    exit 0
fi
if [[ -n $open_issue ]]; then
    gh issue comment "$open_issue" --body "$body"
    echo "drift-report: commented on issue #$open_issue ($verdict)"
else
    gh label create drift --color B60205 --description "npm run drift found the VPS differing from the state" --force >/dev/null
    gh issue create --title "$title" --label drift --body "$body"
    echo "drift-report: opened an issue ($verdict)"
fi
exit "${status:-1}"
