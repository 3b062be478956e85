# The commands of the README. One cargo profile (dev, with optimised dependencies) serves the
# demo, the tests, CI and the benchmarks, so the tree is only ever built once.
CARGO ?= cargo
LAKE ?= lakehouse
# The profile `make bench` measures: dev (the shared one) or release (a second build of the tree).
BENCH_PROFILE ?= dev
ECOMIX = $(CARGO) run --quiet --

.PHONY: demo test bench lint sample stress fuzz

demo: ## The job on the bundled sample (pipelines/eco2mix.toml): ingest, transform, gold, optimize; then the tables.
	$(ECOMIX) --lake $(LAKE) run
	$(ECOMIX) --lake $(LAKE) status

test: ## Every test: unit, end-to-end, real files, Python interop.
	$(CARGO) test --workspace

stress: ## The reliability tests at full count: 100 kills, every crash point, 10 concurrent rounds, 2,400 malformed files.
	ECOMIX_STRESS=1 $(CARGO) test --test reliability --test corpus -- --nocapture

fuzz: ## Fuzz the sniffer and parsers for FUZZ_SECONDS (60) on FUZZ_TARGET (all|text|zip|workbook|parquet); findings go to tests/fuzz-regressions/.
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} $(CARGO) test --test fuzz -- --ignored --nocapture fuzz_the_parsers

bench: ## Each step and the whole job at three scales (time, rows/s, MB/s, peak RSS), and the Python reference; BENCH_PROFILE=dev (default) or release.
	$(CARGO) build --quiet --profile $(BENCH_PROFILE) --bins --examples
	BENCH_PROFILE=$(BENCH_PROFILE) scripts/bench.py

lint: ## Formatting and clippy, warnings as errors.
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

sample: ## Rewrite data/ with the generator (the tests check it is unchanged).
	$(ECOMIX) synth --out data
