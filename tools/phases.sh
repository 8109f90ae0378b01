# shellcheck shell=bash
# Timed phases for the harness (tools/test.sh, tools/main.sh): sourced, never executed.
#
#   phases_init NAME LOG_DIR   output prefix [NAME]; background logs in LOG_DIR; the table at exit
#   phase TITLE                a foreground phase starts (the previous one ends); the commands
#                              that follow in the script belong to it
#   phase_bg [--skippable] TITLE CMD...
#                              CMD runs in the background, its output in LOG_DIR/<title>.log
#   phase_wait TITLE...        waits for background phases; a failed one ends the run, named,
#                              with the end of its log
#   phases_check               the same for background phases that have already ended
#   phase_ok TITLE             true when the background phase ended well
#
# Nothing is skipped silently: a failed phase ends the run, unless it was started with
# --skippable (what it provides is something tests can be skipped without) and
# BYTE_RUNNER_ALLOW_SKIP=1 is set; then the run goes on, the failure is said loudly, and
# the caller asks phase_ok to decide what to skip.
#
# At exit, whatever the outcome, background phases still running are stopped (their own
# processes, by pid) and a table says when each phase started, how long it took and how it
# ended, with the total. Background phases overlap the others: their times add up to more
# than the total.

_phases_prefix=phases
_phases_log_dir=
_phases_started_at=0
_phases_current=
_phases_allowed_skips=
declare -a _phases_order=()
declare -A _phases_begin=() _phases_end=() _phases_result=() _phases_pid=() _phases_log=() _phases_waited=() _phases_skippable=()

_phases_now() { printf '%(%s)T' -1; }
_phases_say() { printf '[%s] %s\n' "$_phases_prefix" "$*" >&2; }
_phases_clock() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }

phases_init() {
    _phases_prefix=$1
    _phases_log_dir=$2
    mkdir -p "$_phases_log_dir"
    _phases_started_at=$(_phases_now)
    trap _phases_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# True when the environment opts in to skipping what this machine cannot provide.
skip_allowed() { [[ ${BYTE_RUNNER_ALLOW_SKIP:-} == 1 ]]; }

# say_skipped WHAT: the loud line every allowed skip gets, also repeated under the table.
say_skipped() {
    _phases_allowed_skips+="  $*"$'\n'
    printf '\n[%s] !!!!! SKIPPED because BYTE_RUNNER_ALLOW_SKIP=1: %s\n[%s] !!!!! this run does NOT prove what the skipped tests check\n\n' \
        "$_phases_prefix" "$*" "$_phases_prefix" >&2
}

_phases_close_current() {
    local status=$1
    [[ -n $_phases_current ]] || return 0
    _phases_end[$_phases_current]=$(_phases_now)
    if ((status == 0)); then _phases_result[$_phases_current]=ok; else _phases_result[$_phases_current]=FAILED; fi
    _phases_current=
}

phase() {
    _phases_close_current 0
    _phases_current=$1
    _phases_order+=("$1")
    _phases_begin[$1]=$(_phases_now)
    printf '\n[%s] == %s (%s)\n' "$_phases_prefix" "$1" "$(date -u +%H:%M:%S)"
}

_phases_slug() { tr -c 'A-Za-z0-9\n' - <<<"$1" | tr -s - | sed 's/^-//; s/-$//'; }

phase_bg() {
    local skippable=0
    if [[ $1 == --skippable ]]; then
        skippable=1
        shift
    fi
    local title=$1
    shift
    _phases_skippable[$title]=$skippable
    local log status_file
    log="$_phases_log_dir/$(_phases_slug "$title").log"
    status_file="$log.status"
    rm -f "$status_file"
    _phases_order+=("$title")
    _phases_begin[$title]=$(_phases_now)
    _phases_log[$title]=$log
    printf '\n[%s] == %s: started in the background (%s; log: %s)\n' "$_phases_prefix" "$title" "$(date -u +%H:%M:%S)" "$log"
    {
        # The command runs as its own job so that `set -e` holds inside it even when it is
        # a shell function; only the wait is tested here.
        status=0
        "$@" </dev/null >"$log" 2>&1 &
        wait "$!" || status=$?
        printf '%s %s\n' "$status" "$(_phases_now)" >"$status_file"
        exit "$status"
    } &
    _phases_pid[$title]=$!
}

# _phases_collect TITLE: once its process has ended, records how a background phase ended;
# returns 1 while it still runs.
_phases_collect() {
    local title=$1 status_file="${_phases_log[$1]}.status" status end
    [[ -z ${_phases_result[$title]:-} ]] || return 0
    [[ -s $status_file ]] || return 1
    read -r status end <"$status_file"
    wait "${_phases_pid[$title]}" 2>/dev/null || true
    _phases_end[$title]=$end
    if ((status == 0)); then _phases_result[$title]=ok; else _phases_result[$title]="FAILED (exit $status)"; fi
}

_phases_show_failure() {
    local title=$1 log=${_phases_log[$1]}
    _phases_say "background phase $title: ${_phases_result[$title]}; the end of its log ($log):"
    tail -n 40 "$log" | sed 's/^/    | /' >&2
}

# _phases_settle TITLE: once the phase has ended: 0 when it ended well or may be skipped
# (said loudly), 1 when it failed (after showing the end of its log).
_phases_settle() {
    local title=$1
    _phases_waited[$title]=1
    [[ ${_phases_result[$title]} != ok ]] || return 0
    _phases_show_failure "$title"
    if ((_phases_skippable[$title])) && skip_allowed; then
        say_skipped "what needs '$title' (it failed; see above)"
        return 0
    fi
    return 1
}

# _phases_fail TITLE...: ends the run, naming the failed phases.
_phases_fail() {
    local how="set BYTE_RUNNER_ALLOW_SKIP=1 to skip the tests that need them on purpose instead"
    # The foreground phase did its part; the failure is the background phases' (their rows say so).
    _phases_close_current 0
    _phases_say "FAILED: $(printf '%s; ' "$@")see above. Nothing that needs them can run; $how"
    exit 1
}

phase_wait() {
    local title failed=()
    for title in "$@"; do
        [[ -n ${_phases_pid[$title]:-} ]] || {
            _phases_say "no background phase named '$title'"
            exit 1
        }
        if ! _phases_collect "$title"; then
            printf '[%s] waiting for: %s (%s)\n' "$_phases_prefix" "$title" "$(date -u +%H:%M:%S)"
            wait "${_phases_pid[$title]}" 2>/dev/null || true
            _phases_collect "$title" || {
                _phases_end[$title]=$(_phases_now)
                _phases_result[$title]="FAILED (ended without a status)"
            }
        fi
        if [[ -n ${_phases_waited[$title]:-} ]]; then continue; fi
        if [[ ${_phases_result[$title]} == ok ]]; then
            printf '[%s] done: %s (%s)\n' "$_phases_prefix" "$title" "$(_phases_clock $((_phases_end[$title] - _phases_begin[$title])))"
        fi
        _phases_settle "$title" || failed+=("$title")
    done
    if ((${#failed[@]})); then _phases_fail "${failed[@]}"; fi
}

phases_check() {
    local title failed=()
    for title in "${_phases_order[@]}"; do
        [[ -n ${_phases_pid[$title]:-} && -z ${_phases_waited[$title]:-} ]] || continue
        _phases_collect "$title" || continue
        [[ ${_phases_result[$title]} != ok ]] || continue
        _phases_settle "$title" || failed+=("$title")
    done
    if ((${#failed[@]})); then _phases_fail "${failed[@]}"; fi
}

phase_ok() {
    _phases_collect "$1" && [[ ${_phases_result[$1]} == ok ]]
}

# _phases_stop_tree PID: the process and everything it started, deepest first.
_phases_stop_tree() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        _phases_stop_tree "$child"
    done
    kill -TERM "$1" 2>/dev/null || true
}

phases_table() {
    local status=$1 now title begin end took result
    now=$(_phases_now)
    printf '\n[%s] phase times (background phases overlap the others)\n' "$_phases_prefix"
    printf '  %6s %7s  %-24s %s\n' start took result phase
    for title in "${_phases_order[@]}"; do
        begin=${_phases_begin[$title]}
        end=${_phases_end[$title]:-$now}
        took=$((end - begin))
        result=${_phases_result[$title]:-}
        [[ -n ${_phases_pid[$title]:-} ]] && title="$title (background)"
        printf '  %6s %7s  %-24s %s\n' "$(_phases_clock $((begin - _phases_started_at)))" "$(_phases_clock "$took")" "$result" "$title"
    done
    printf '  %6s %7s  %-24s %s\n' "" "$(_phases_clock $((now - _phases_started_at)))" "$( ((status == 0)) && echo passed || echo "FAILED (exit $status)")" total
    if [[ -n $_phases_allowed_skips ]]; then
        printf '[%s] !!!!! SKIPPED on purpose (BYTE_RUNNER_ALLOW_SKIP=1):\n%s' "$_phases_prefix" "$_phases_allowed_skips"
    fi
}

_phases_exit() {
    local status=$? title
    trap - EXIT
    _phases_close_current "$status"
    for title in "${!_phases_pid[@]}"; do
        _phases_collect "$title" && continue
        _phases_stop_tree "${_phases_pid[$title]}"
        _phases_end[$title]=$(_phases_now)
        _phases_result[$title]="stopped (run ended)"
    done
    phases_table "$status" >&2
    exit "$status"
}
