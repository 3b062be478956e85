# The commands of the README. One cargo profile (dev, with optimised dependencies) serves the
# demo, the tests and the benchmarks, so the tree is only ever built once.
CARGO ?= cargo
LAKE ?= lakehouse
ECOMIX = $(CARGO) run --quiet --

.PHONY: demo test bench lint sample

demo: ## The job on the bundled sample: ingest into bronze, transform to silver, show the tables.
	$(ECOMIX) --lake $(LAKE) ingest data/
	$(ECOMIX) --lake $(LAKE) transform
	$(ECOMIX) --lake $(LAKE) status

test: ## Every test: unit, end-to-end, real files, Python interop.
	$(CARGO) test --workspace

bench: ## Ingest and transform throughput on the real files (MB/s, rows/s, peak RSS).
	$(CARGO) build --quiet
	scripts/bench.py

lint: ## Formatting and clippy, warnings as errors.
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

sample: ## Rewrite data/ with the generator (the tests check it is unchanged).
	$(ECOMIX) synth --out data
