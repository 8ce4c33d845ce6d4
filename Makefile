# MetaFlow: `make run` starts the all-in-one; `make test` runs every test.
# Both install what is missing first (Debian packages, npm packages, the build),
# so a fresh machine needs nothing else.

SHELL := /bin/bash
NODE_BIN := node_modules/.bin

# Debian packages the tests start for real (servers on loopback) or build with.
APT_PACKAGES := clickhouse-server tshark tcpdump tcpreplay wrk nghttp2 curl dnsutils \
  nginx redis-server redis-tools mariadb-server mariadb-client postgresql postgresql-client \
  dnsmasq mosquitto mosquitto-clients rabbitmq-server nats-server memcached prometheus \
  libpcap-dev clang llvm libbpf-dev bpftool libelf-dev

.PHONY: all deps apt npm build run test typecheck clean bench

all: build

deps: apt npm

# Installs only what is missing; `apt-get update` runs once, and only then.
apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Installs the locked versions when node_modules is missing or older than the
# lock file. Not `npm ci`: lock files written on this kind of machine leave out
# other platforms' optional binaries (chdb, swc), which `npm ci` rejects as
# out of sync; `npm install --no-save` installs the same locked tree.
npm: node_modules/.installed

node_modules/.installed: package-lock.json package.json
	npm install --no-audit --no-fund --no-save
	@touch $@

# bpf/: the eBPF programs and the addon that loads them (says why and builds
# nothing where clang, bpftool, libbpf-dev or kernel BTF are missing).
build: npm
	$(MAKE) -C bpf
	node scripts/gen-registry.js
	$(NODE_BIN)/tsc -p tsconfig.json

typecheck: npm
	node scripts/gen-registry.js
	$(NODE_BIN)/tsc -p tsconfig.json --noEmit

run: deps build
	node dist/cli/main.js start

test: deps build
	# --experimental-vm-modules: the OpenTelemetry SDK's HTTP exporters load parts with import().
	node --experimental-vm-modules $(NODE_BIN)/jest --ci

bench: deps build
	@for b in dist/bench/*.js; do echo "== $$b"; node --expose-gc $$b || exit 1; done

clean:
	rm -rf dist node_modules/.installed
	$(MAKE) -C bpf clean
