# The two commands of the README: `make demo` runs the main job, `make test` runs the tests.
# Both install what they need first (scripts/setup.sh is idempotent and fast when done).
BUILD ?= build
JOBS ?= $(shell nproc)
# libgomp spin-waits by default; on a busy 2-core machine that makes the CPU backend ~10x slower
# when several test processes share the cores. Passive waiting costs little when cores are free.
export OMP_WAIT_POLICY ?= passive

.PHONY: setup build demo demo-local test bench clean

setup:
	./scripts/setup.sh

build: setup
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

# The main job: a scheduler and two agents on localhost, a training job split across both,
# then inference with the trained model, and the money that moved.
demo: build
	./scripts/demo-network.sh $(BUILD)

# Single machine, no network: train a small GPT on tinyshakespeare, then generate from it.
demo-local: build
	./scripts/demo.sh $(BUILD)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

bench: build
	./scripts/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD)
