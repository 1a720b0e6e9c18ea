# The two commands of the README: `make demo` runs the main job, `make test` runs the tests.
# Both install what they need first (scripts/setup.sh is idempotent and fast when done).
BUILD ?= build
JOBS ?= $(shell nproc)
# libgomp spin-waits by default; on a busy 2-core machine that makes the CPU backend ~10x slower
# when several test processes share the cores. Passive waiting costs little when cores are free.
export OMP_WAIT_POLICY ?= passive

.PHONY: setup build demo test bench clean

setup:
	./scripts/setup.sh

build: setup
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./scripts/demo.sh $(BUILD)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

bench: build
	./scripts/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD)
