# evidpack — set-up and everyday commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_KEY  := keys/demo-examiner.key
DEMO_PASS := keys/demo-examiner.passphrase
DEMO_OUT  := bundles/NC-2026-0142

.PHONY: demo test tools install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

## tools: the system programs the tests use for interop (installed with apt-get when missing)
tools:
	@sh scripts/system-tools.sh

## demo: install, then build and verify the example case
demo: install
	rm -rf $(DEMO_OUT) $(DEMO_OUT).zip
	$(BIN)/evidpack build manifests/example-case.toml --key $(DEMO_KEY) --passphrase-file $(DEMO_PASS) --out $(DEMO_OUT) --zip
	$(BIN)/evidpack verify $(DEMO_OUT) --trust keys/trusted/ --deep

## test: install (with system tools) and run the whole suite
test: install tools
	$(BIN)/python -m pytest -q

## bench: time build and verify against bagit-python (see bench/README.md); e.g. make bench BENCH_ARGS=--quick
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf bundles out bench/work .pytest_cache
