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

clean:
	rm -rf build build-sanitize build-fuzz *.setup.log *.compile.log
