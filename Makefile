# Entry points for people; the build itself is Meson (build/).
.PHONY: all deps build demo test bench fuzz clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@[ -f build/build.ninja ] || meson setup build
	@meson compile -C build

# Starts a single-node platform in a temporary directory, runs the main flow
# with a real workload, prints each step, and stops everything it started.
demo: build
	@scripts/demo.sh build

# Every test, plain and under ASan+UBSan; ends with "N passed, N failed".
test: deps
	@scripts/test.sh

bench: build
	@bench/run.sh build

# libFuzzer on every target for FUZZ_SECONDS each (clang, ASan+UBSan); new
# inputs go to build-fuzz/corpus/, seeds stay untouched.
FUZZ_SECONDS ?= 60
fuzz: deps
	@[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzzing=true \
		-Db_sanitize=address,undefined -Db_lundef=false
	@meson compile -C build-fuzz
	@for t in build-fuzz/tests/fuzz/fuzz_*; do [ -f "$$t" ] && [ -x "$$t" ] || continue; n=$${t##*/fuzz_}; \
		mkdir -p build-fuzz/corpus/$$n; echo "== $$n"; \
		$$t -max_total_time=$(FUZZ_SECONDS) build-fuzz/corpus/$$n tests/fuzz/corpus/$$n || exit 1; done

clean:
	rm -rf build build-sanitize build-fuzz *.setup.log *.compile.log
