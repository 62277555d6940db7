# Sourced by e2e/run-sdk-tests.sh and e2e/run-console-tests.sh: create (or reuse) the
# virtualenv at $AIRLOCK_VENV and install the exact pins of e2e/requirements.txt into it.
#
#   airlock_venv_setup <name for messages>
#
# Needs AIRLOCK_VENV set; takes e2e/requirements.txt from next to this file.

_airlock_venv_e2e_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

airlock_venv_setup() {
    local who="$1"
    # Create the venv, or recreate it if its interpreter no longer runs (e.g. python upgraded).
    if ! "$AIRLOCK_VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        echo "$who: creating virtualenv at $AIRLOCK_VENV" >&2
        rm -rf "$AIRLOCK_VENV"
        mkdir -p "$(dirname "$AIRLOCK_VENV")"
        python3 -m venv "$AIRLOCK_VENV"
    fi

    "$AIRLOCK_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$_airlock_venv_e2e_dir/requirements.txt"
}
