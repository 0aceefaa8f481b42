# Every target creates (or reuses) the virtual environment in .venv first, so each one works
# when it is the first command run on a fresh machine. It installs the exact versions in
# requirements-lock.txt (not whatever the registry serves today), then lmkit itself without
# re-resolving anything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements-lock.txt
PIP_VERSION := 26.3
UV_VERSION := 0.13.9
# The oldest torch that pyproject.toml admits; `make test-oldest` runs the suite on it.
OLDEST_TORCH := 2.13.0
OLDEST_VENV := .venv-oldest
# Packages that come with torch's CUDA build; the oldest-torch venv takes them from its own torch.
TORCH_FAMILY := ^(torch|triton|nvidia-|cuda-)

.PHONY: setup app test lab lint bench lock test-oldest clean

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install "pip==$(PIP_VERSION)"
	$(BIN)/python -m pip install -r $(LOCK)
	$(BIN)/python -m pip install --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

setup: $(STAMP)

app: $(STAMP)
	@if [ -f app/Home.py ]; then \
		$(BIN)/streamlit run app/Home.py --server.fileWatcherType none; \
	else \
		echo "The Streamlit app is not built yet (see issue 'The Streamlit app')."; \
		echo "The library is installed in $(VENV); try: $(BIN)/python -c 'import lmkit; print(lmkit.__version__)'"; \
	fi

test: $(STAMP)
	LMKIT_LOCKED_VENV=1 $(BIN)/python -m pytest

lab: $(STAMP)
	$(BIN)/jupyter lab chapters

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

# Re-resolve the lock from pyproject.toml's ranges (needs the registry, not a GPU), for every
# platform and Python >= 3.10 at once. Review the diff and run `make test` before committing it.
lock: $(STAMP)
	$(BIN)/python -m pip install "uv==$(UV_VERSION)"
	$(BIN)/uv pip compile pyproject.toml --extra all --universal --python-version 3.10 \
		--constraint lock-constraints.txt --custom-compile-command "make lock" --output-file $(LOCK)

# The whole suite on the oldest torch we claim, with every other package as locked.
test-oldest:
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install "pip==$(PIP_VERSION)"
	grep -v -E '$(TORCH_FAMILY)' $(LOCK) > $(OLDEST_VENV)/requirements.txt
	$(OLDEST_VENV)/bin/python -m pip install -r $(OLDEST_VENV)/requirements.txt "torch==$(OLDEST_TORCH)"
	$(OLDEST_VENV)/bin/python -m pip install --no-deps -e .
	$(OLDEST_VENV)/bin/python -m pytest

clean:
	rm -rf $(VENV) $(OLDEST_VENV) .pytest_cache
