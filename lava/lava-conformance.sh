#!/bin/sh
# The steps of lava/zerocopy-conformance.yaml, run by LAVA's test shell inside the guest (root),
# from the root of the test definition's repository. Parameters come from the definition's
# params (environment): WHEELHOUSE, PACKAGE, VENV, RUN_ARGS, PYTEST_ARGS, RESULTS.
#   lava-conformance.sh install   venv + the suite (and its dependencies) in $VENV
#   lava-conformance.sh run       conformance run, then one LAVA test case per test
set -u
VENV=${VENV:-/opt/zerocopy-conformance}
PACKAGE=${PACKAGE:-zerocopy-conformance}
RESULTS=${RESULTS:-/var/tmp/zerocopy-conformance-results}
WHEELHOUSE=${WHEELHOUSE:-}
here=$(pwd)

have() { command -v "$1" >/dev/null 2>&1; }
case_result() {  # NAME RESULT: a test case of its own, or a line when not under LAVA
    if have lava-test-case; then lava-test-case "$1" --result "$2"; else echo "$1: $2"; fi
}

install_suite() {
    python3 -m venv "$VENV" || return 1
    if [ -n "$WHEELHOUSE" ]; then
        case $WHEELHOUSE in /*) wheels=$WHEELHOUSE ;; *) wheels=$here/$WHEELHOUSE ;; esac
        "$VENV/bin/pip" install --disable-pip-version-check --no-index \
            --find-links "$wheels" "$PACKAGE" || return 1
    else
        "$VENV/bin/pip" install --disable-pip-version-check "$PACKAGE" || return 1
    fi
    "$VENV/bin/conformance" clauses --help >/dev/null
}

run_suite() {
    mkdir -p "$RESULTS"
    base=$(mktemp -d "$RESULTS/run.XXXXXX") || return 1
    # shellcheck disable=SC2086  # RUN_ARGS and PYTEST_ARGS are word lists
    "$VENV/bin/conformance" run --results "$base" ${RUN_ARGS:-} -- ${PYTEST_ARGS:--q}
    rc=$?
    run_dir=
    for d in "$base"/*/; do [ -d "$d" ] && run_dir=${d%/}; done
    # conformance run: 0 all passed, 1 failures (reported per test below), 2 could not run
    if [ "$rc" -gt 1 ] || [ -z "$run_dir" ]; then
        case_result conformance-run fail
        return 1
    fi
    case_result conformance-run pass
    "$VENV/bin/python" -m conformance.lava.report "$run_dir"
}

case ${1:-} in
    # LAVA runs install steps before the test run starts (before its STARTRUN signal), where a
    # lava-test-case is refused ("Unknown test uuid"): the run step reports install-suite.
    install)
        if install_suite; then : >"$VENV/.installed"
        else echo "lava-conformance: installing $PACKAGE failed" >&2; exit 1; fi ;;
    run)
        if [ -f "$VENV/.installed" ]; then case_result install-suite pass
        else case_result install-suite fail; exit 1; fi
        run_suite ;;
    *) echo "usage: $0 install|run" >&2; exit 2 ;;
esac
