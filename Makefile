# Everything installs itself: `make test` and `make demo` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

PHONE := tests/phone/node_modules/.installed

.PHONY: test demo lint clean postgres kannel voice phone chromium lock mutants screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# setuptools' note that an editable install reads the working tree is what we want here: not shown
	PYTHONWARNINGS='ignore:Editable installation' $(PY) -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

test: $(STAMP) postgres kannel voice phone chromium
	$(PY) -m dev.audit
	$(PY) -m pytest -q -n auto --dist loadgroup

# The image installs exactly these versions; after a change to the dependencies: make lock
lock: $(STAMP)
	$(VENV)/bin/uv pip compile pyproject.toml --extra postgres --generate-hashes --python-version 3.11 \
	  -o requirements.lock -q

# The test phone runs Element's crypto stack (matrix-js-sdk + Rust crypto wasm) under Node.
phone: $(PHONE)
$(PHONE): tests/phone/package-lock.json
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq nodejs npm >/dev/null 2>&1 || \
	  { apt-get update -qq >/dev/null && apt-get install -y -qq nodejs npm >/dev/null; }; }
	cd tests/phone && npm ci --no-audit --no-fund --loglevel=error
	touch $(PHONE)

# The state tests also run on a PostgreSQL server the suite starts; Debian's package provides it.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -qq postgresql >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null; }; }; } || \
	  echo "PostgreSQL could not be installed: its tests will be skipped"

# The SMS tests run a real Kannel (bearerbox + smsbox) with fakesmsc as the operator: Debian's packages.
# Their postinst may try to start a system bearerbox; policy-rc.d keeps it from running.
kannel:
	@{ [ -x /usr/sbin/bearerbox ] && [ -x /usr/lib/kannel/test/fakesmsc ]; } || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -qq kannel kannel-extras >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null && apt-get install -y -qq kannel kannel-extras >/dev/null; }; }; } || \
	  echo "Kannel could not be installed: the SMS tests will be skipped"

# The voice tests call test phones over SIP on loopback: Debian's baresip (the bot's user agent and the phones),
# espeak-ng (the spoken message), sip-tester (SIPp) and sox (what a phone heard).
voice:
	@{ command -v baresip && command -v espeak-ng && command -v sipp && command -v sox; } >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -qq baresip espeak-ng sip-tester sox >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null && apt-get install -y -qq baresip espeak-ng sip-tester sox >/dev/null; }; }; } || \
	  echo "baresip, espeak-ng, sip-tester or sox could not be installed: the voice tests will be skipped"

# The board is tested in a real browser: Debian's chromium, headless.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null && apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null; }; }; } || \
	  echo "Chromium could not be installed: the board's browser tests will be skipped"

# Mutation testing of the convocation, roster, forum, schedule and lägesbild rules (a few minutes).
mutants: $(STAMP)
	$(VENV)/bin/pip install --quiet mutmut
	$(PY) -m dev.mutants

# DEMO='--at 2027-03-28T00:40Z' starts the bot's clock at that instant (python -m dev.demo --help).
demo: $(STAMP)
	$(PY) -m dev.demo $(DEMO)

# What a phone shows, from a real demo run, into docs/phone/ (needs Debian's chromium).
screenshots: $(STAMP)
	$(PY) -m dev.screenshots

lint: $(STAMP)
	$(PY) -m ruff check bot dev tests bench
	$(PY) -m mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tests/phone/node_modules
