# Porchlight. The two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
SHARED_DATA := ../shared/data

.PHONY: setup testdata ui-deps ui build demo test lint unit fuzz bench clean-demo

## Install the Debian packages the build, demo and tests need, then ONNX Runtime, the
## detection model and the server tests' Python tools (moto, schemathesis) into
## ~/.cache/porchlight (idempotent, fast when done).
setup:
	@bash scripts/setup.sh
	@bash scripts/setup-models.sh
	@bash scripts/setup-tools.sh

## Generate synthetic test clips under testdata/generated (idempotent).
testdata: setup
	@bash scripts/make-testdata.sh

## The web app's npm packages (exact versions from ui/package-lock.json; fast when done).
ui-deps:
	@bash scripts/setup-ui.sh

## Type-check and build the web app into ui/dist, which the binary embeds.
ui: ui-deps
	bash scripts/gen-api-types.sh
	cd ui && npm run --silent build

build: setup ui
	$(CARGO) build --release

## Record two simulated cameras replaying real video; Ctrl-C stops cleanly.
demo: testdata build
	@if [ -f $(SHARED_DATA)/one-by-one-person-detection.mp4 ] && [ -f $(SHARED_DATA)/car-detection.mp4 ]; then \
	  front=$(SHARED_DATA)/one-by-one-person-detection.mp4; back=$(SHARED_DATA)/car-detection.mp4; \
	  frontsub=testdata/generated/person-sub.mp4; \
	elif [ -s testdata/generated/street.mp4 ] && [ -s testdata/generated/street-sub.mp4 ]; then \
	  echo "($(SHARED_DATA) not found: the front camera shows opencv-doc's street, the back a test pattern)"; \
	  front=testdata/generated/street.mp4; back=testdata/generated/back.mp4; \
	  frontsub=testdata/generated/street-sub.mp4; \
	else \
	  echo "($(SHARED_DATA) not found: using the generated clips in testdata/generated)"; \
	  front=testdata/generated/front.mp4; back=testdata/generated/back.mp4; \
	  frontsub=testdata/generated/front-sub.mp4; \
	fi; \
	./target/release/porchlight demo --front $$front --front-sub $$frontsub --back $$back --data-dir demo-data $(DEMO_ARGS)

## Format, lint, and every test (unit, property, integration with real RTSP servers,
## the web app's component tests and its end-to-end tests in Debian's Chromium).
## With ../shared/data present, the tests that fall back to generated footage without it
## run a second time with it hidden, as in a user's fresh clone, so that CI proves both.
test: testdata lint ui
	cd ui && npm run --silent test
	PORCHLIGHT_REQUIRE_MODELS=1 PORCHLIGHT_REQUIRE_SERVERS=1 PORCHLIGHT_REQUIRE_UI=1 $(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc
	@if [ -d $(SHARED_DATA) ]; then \
	  echo "make test: again without $(SHARED_DATA), as a fresh clone has it"; \
	  PORCHLIGHT_HIDE_SHARED_DATA=1 PORCHLIGHT_REQUIRE_MODELS=1 PORCHLIGHT_REQUIRE_SERVERS=1 PORCHLIGHT_REQUIRE_UI=1 \
	    $(CARGO) test -p porchlight --test web_app --test events --test rtsp; \
	fi

lint: ui-deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	bash scripts/gen-api-types.sh --check
	cd ui && npm run --silent check

## Run each fuzz target for FUZZ_SECONDS (needs the nightly toolchain and cargo-fuzz).
## Checked-in seeds (fuzz/seeds/<target>/) are read alongside the target's corpus.
FUZZ_SECONDS ?= 60
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in $$(cargo +nightly fuzz list); do \
	  mkdir -p corpus/$$t; seeds=; [ -d seeds/$$t ] && seeds=seeds/$$t; \
	  cargo +nightly fuzz run $$t corpus/$$t $$seeds -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done

## Micro-benchmarks (criterion) and whole-system benchmarks; see BENCHMARKS.md.
bench: testdata
	$(CARGO) bench --workspace
	bash scripts/bench.sh

clean-demo:
	rm -rf demo-data
