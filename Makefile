# Every target does its own set-up on a fresh machine: Debian packages, a .venv, the install.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PKGS := tshark iproute2 iptables ipset iputils-ping bridge-utils procps conntrack curl tcpdump netcat-openbsd dnsutils busybox

.PHONY: demo test lint bench system-deps clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e '.[test,notebooks,real,study]'
	touch $(STAMP)

# Debian tools the tests compare against (tshark reads our pcaps; ip/iptables are the real kernel oracle).
system-deps:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	fi

demo: $(STAMP)
	$(BIN)/cnmsim run scenarios/docker-pets-bridge.yaml

test: $(STAMP) system-deps
	$(BIN)/ruff check cnmsim tests benchmarks
	$(BIN)/python -m pytest -q --nbmake tests notebooks

bench: $(STAMP)
	$(BIN)/python benchmarks/dataplane.py
	$(BIN)/python benchmarks/netfilter.py
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/gossip.py
	$(BIN)/python benchmarks/swarm.py
	@if [ "$$(id -u)" = "0" ]; then $(BIN)/python benchmarks/real.py; fi

clean:
	rm -rf $(VENV) build *.egg-info
