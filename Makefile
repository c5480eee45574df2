# clonelb: the commands users type. The build itself is meson + ninja in build/.
BUILD ?= build
PY := /usr/bin/python3

.PHONY: all deps build test unit integration demo demo-group bench fuzz clean

all: build

# Debian packages the build, the demo, the tests and the benchmark need.
DEB_PKGS := build-essential meson ninja-build pkg-config clang llvm \
	libbpf-dev bpftool libelf-dev liburing-dev zlib1g-dev linux-libc-dev gcc-multilib \
	libsqlite3-dev sqlite3 libssl-dev openssl libmicrohttpd-dev libjansson-dev \
	libedit-dev libcurl4-openssl-dev libcmocka-dev libclang-rt-14-dev \
	iproute2 ethtool iputils-ping curl jq procps psmisc nginx haproxy bird2 frr etcd-server tcpdump tshark \
	python3 python3-pytest python3-scapy python3-matplotlib \
	wrk iperf3 chromium slowhttptest nghttp2-client testssl.sh etcd-server etcd-client

deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	else echo "make deps: all Debian packages present"; fi
	@if [ -f web/package.json ]; then $(MAKE) -s -C web deps; fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=debugoptimized -Dwerror=true

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)
	@if [ -f web/package.json ]; then $(MAKE) -s -C web; fi

test: build
	$(MAKE) -s unit integration

# Unit tests run twice: in the normal build, and under AddressSanitizer and
# UBSan (build-asan/), which fail the test on any leak, overflow or UB.
unit:
	meson test -C $(BUILD) --print-errorlogs
	@[ -f build-asan/build.ninja ] || meson setup build-asan --buildtype=debug \
		-Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true >/dev/null
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --print-errorlogs

integration:
	cd tests/integration && $(PY) -m pytest -p no:cacheprovider -q -ra .

demo: build
	./tests/lab/demo.sh

demo-group: build
	./tests/lab/demo-group.sh

bench: build
	$(PY) bench/bench.py

fuzz: deps
	./tests/fuzz/run.sh 60

clean:
	rm -rf $(BUILD) build-fuzz
