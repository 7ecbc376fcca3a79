#!/usr/bin/env bash
# hsi-bench entry point.
#   ./run_all.sh          set up, run the `standard` benchmark (one worker per core), write the report
#                         (runs/standard/report/index.html)
#   ./run_all.sh test     set up, run the test suite and the PSNR regression gate (what CI runs)
#   ./run_all.sh bench    set up, run the speed/memory benchmark scripts (results under runs/benchmarks/)
# Setup is idempotent: a .venv at the repo root, `pip install -e ".[dev,reference]"` only when pyproject.toml
# changed, and Debian's chromium for the browser test when it is missing.
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv
PY="$VENV/bin/python"

setup() {
    if [ ! -x "$PY" ]; then
        python3 -m venv "$VENV"
    fi
    local stamp="$VENV/.hsi-bench-installed" want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        "$PY" -m pip install --quiet --upgrade pip
        "$PY" -m pip install --quiet -e ".[dev,reference]"
        echo "$want" > "$stamp"
    fi
}

setup_browser() {
    if [ ! -x /usr/bin/chromium ] && [ -z "${HSIBENCH_SKIP_BROWSER:-}" ]; then
        echo "installing Debian's chromium for the browser test" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
}

cmd="${1:-run}"
case "$cmd" in
    run)
        setup
        cores="$(nproc 2>/dev/null || echo 1)"
        executor=()
        if [ "$cores" -ge 2 ]; then
            # one worker process per core (README: "Running on more than one machine" has the measured gain)
            echo "running the standard grid on $cores local workers (--executor local --workers $cores)" >&2
            executor=(--executor local --workers "$cores")
        fi
        "$VENV/bin/bench" run --profile standard --noise all -v "${executor[@]}"
        "$VENV/bin/bench" report --out runs/standard --html
        ;;
    test)
        setup
        setup_browser
        "$PY" -m pytest -q -p no:cacheprovider tests
        "$VENV/bin/bench" check --baseline tests/baselines/smoke.json --run --out runs/ci-smoke
        ;;
    bench)
        setup
        for script in benchmarks/bench_*.py; do
            echo "== $script" >&2
            "$PY" "$script"
        done
        ;;
    *)
        echo "usage: ./run_all.sh [run|test|bench]" >&2
        exit 2
        ;;
esac
