# shellcheck shell=bash
# The one way a VPS script receives its settings: KEY=VALUE lines on stdin.
#
# Every script under components/ that runs on the VPS sources this file. In the
# repository it is sourced from here; when a script is shipped to the VPS
# (components/shared/vps-script.ts) this file is inlined in place of the `source`
# line, so the host needs no second file and the script's hash covers it.
#
#   settings_read SCRIPT KEY...   reads stdin: every KEY exactly once, nothing else
#   settings[KEY]                 the value, verbatim: everything after the first =
#   settings_fail KEY MESSAGE...  refuses the setting KEY (exit 2, the key named)
#   settings_int KEY MIN MAX      KEY is a whole number from MIN to MAX, no leading zeros
#   settings_flag KEY             KEY is 0 or 1
#   settings_mode SCRIPT "$@"     for a script whose one optional argument is --check-settings
#   settings_done                 with --check-settings (SETTINGS_CHECK_ONLY=1): say so, exit 0
#
# Lines are KEY=VALUE; blank lines and lines starting with # are skipped. A line that
# is not KEY=VALUE, an unknown key, a key given twice and a missing key are refused:
# a value that is empty on purpose is given as KEY=. Nothing here prints a value
# (secrets travel this way too); the scripts' own messages show only values that are
# not secret. Exit status 2 means "bad settings" in every script.

# shellcheck disable=SC2034 # read by the scripts that source this file
declare -A settings=()
SETTINGS_SCRIPT=${0##*/}
# 1: the script was asked only to check its settings (--check-settings): no side effects.
SETTINGS_CHECK_ONLY=0

settings_fail() {
    local key=$1
    shift
    printf '%s: invalid setting %s: %s\n' "$SETTINGS_SCRIPT" "$key" "$*" >&2
    exit 2
}

settings_read() {
    SETTINGS_SCRIPT=$1
    shift
    local known=" $* " line line_number=0 key
    if [[ -t 0 ]]; then
        printf '%s: settings are read from stdin as KEY=VALUE lines (%s); pipe them in\n' "$SETTINGS_SCRIPT" "$*" >&2
        exit 2
    fi
    while IFS= read -r line || [[ -n $line ]]; do
        line_number=$((line_number + 1))
        [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
        if [[ ! $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
            # The line is not shown: it may hold a secret.
            printf '%s: invalid settings: stdin line %d is not KEY=VALUE\n' "$SETTINGS_SCRIPT" "$line_number" >&2
            exit 2
        fi
        key=${BASH_REMATCH[1]}
        [[ $known == *" $key "* ]] || settings_fail "$key" "unknown key (expected:$known)"
        [[ ! -v "settings[$key]" ]] || settings_fail "$key" "given twice"
        settings[$key]=${BASH_REMATCH[2]}
    done
    for key in "$@"; do
        [[ -v "settings[$key]" ]] || settings_fail "$key" "missing: the caller must give every setting (KEY= for an empty value)"
    done
}

settings_int() {
    local key=$1 min=$2 max=$3
    local value=${settings[$key]}
    if [[ ! $value =~ ^(0|-?[1-9][0-9]{0,9})$ ]] || ((value < min || value > max)); then
        settings_fail "$key" "'$value' is not a whole number from $min to $max"
    fi
}

settings_flag() {
    local key=$1
    [[ ${settings[$key]} == 0 || ${settings[$key]} == 1 ]] || settings_fail "$key" "'${settings[$key]}' is not 0 or 1"
}

settings_mode() {
    local script=$1
    shift
    case "${1-}:$#" in
        :0) ;;
        --check-settings:1) SETTINGS_CHECK_ONLY=1 ;;
        *)
            printf '%s: unknown arguments %s (--check-settings or none; settings come on stdin)\n' "$script" "'$*'" >&2
            exit 2
            ;;
    esac
}

settings_done() {
    if ((SETTINGS_CHECK_ONLY)); then
        printf '%s: settings ok\n' "$SETTINGS_SCRIPT"
        exit 0
    fi
}
