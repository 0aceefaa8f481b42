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

.PHONY: setup app classroom test lab lab-reset notebook-filter lint bench lock test-oldest \
	wheelhouse book clean

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
		LMKIT_PRESENTER=$(PRESENTER) $(BIN)/streamlit run app/Home.py --server.fileWatcherType none; \
	else \
		echo "The Streamlit app is not built yet (see issue 'The Streamlit app')."; \
		echo "The library is installed in $(VENV); try: $(BIN)/python -c 'import lmkit; print(lmkit.__version__)'"; \
	fi

# `make app PRESENTER=1`: larger fonts for a projector (app/Home.py reads LMKIT_PRESENTER).
# `make classroom`: one app process per core behind nginx with sticky sessions, for a class
# (classroom/launch.py; docs/instructor-guide.md). CLASSROOM_WORKERS= overrides the count.
CLASSROOM_PORT ?= 8501
classroom: $(STAMP)
	LMKIT_PRESENTER=$(PRESENTER) $(BIN)/python -m classroom.launch --port $(CLASSROOM_PORT) \
		$(if $(CLASSROOM_WORKERS),--workers $(CLASSROOM_WORKERS))

test: $(STAMP)
	LMKIT_LOCKED_VENV=1 $(BIN)/python -m pytest

# `make lab` opens the reader's own copy of the chapters (LAB_DIR, git-ignored, made from chapters/
# on first run), never chapters/ itself: JupyterLab saves outputs into whatever it opens.
# lab_config/ turns off the news pop-up and the update check and quiets kernel startup; it is
# added to JUPYTER_CONFIG_PATH, so a reader's own ~/.jupyter settings still apply.
LAB_DIR ?= lab
LAB_CONFIG := $(CURDIR)/lab_config
# Jupyter refuses to run as root (containers, classroom VMs) unless told it may.
LAB_ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)

lab: $(STAMP)
	@$(BIN)/python lab_config/working_copy.py prepare "$(LAB_DIR)"
	@if [ -n "$(LAB_ROOT_FLAG)" ]; then \
		echo "make lab: running as root (id -u is 0), so JupyterLab starts with --allow-root."; \
	fi
	JUPYTER_CONFIG_PATH="$(LAB_CONFIG)$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
		$(BIN)/jupyter lab $(LAB_ROOT_FLAG) "$(LAB_DIR)"

# A fresh copy of the chapters in LAB_DIR; the old copy is kept as LAB_DIR.backup-<time>.
lab-reset: $(STAMP)
	@$(BIN)/python lab_config/working_copy.py reset "$(LAB_DIR)"

# For contributors: git stores chapters/**/*.ipynb through tools/strip_notebooks.py (see
# .gitattributes), so outputs from running a chapter in place never reach a commit.
notebook-filter:
	git config filter.lmkit-notebooks.clean "$(PYTHON) tools/strip_notebooks.py --stdin"
	@echo "notebook-filter: git now strips outputs from chapters/**/*.ipynb when staging them."

# `make book`: every chapter and the appendix executed headless on the CPU (as the notebook test
# runs them) and rendered into _build/book/ (git-ignored), a static site with search that needs
# no network (tools/build_book.py). MathJax comes from npm once; without it formulas stay as TeX.
MATHJAX := _build/npm/node_modules/mathjax/es5/tex-chtml.js
book: $(STAMP)
	@[ -f $(MATHJAX) ] || npm install --prefix _build/npm --no-save --no-audit --no-fund \
		mathjax@3.2.2 || echo "make book: npm could not fetch MathJax; formulas stay as TeX."
	$(BIN)/python tools/build_book.py --out _build/book

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

# Everything `make setup` installs, as files, for a room without network: copy the repository
# with wheelhouse/ to each machine and run  PIP_NO_INDEX=1 PIP_FIND_LINKS=$PWD/wheelhouse make setup
# (pip reads both variables). The wheels are for this machine's platform and Python version.
WHEELHOUSE ?= wheelhouse
wheelhouse: $(STAMP)
	$(BIN)/python -m pip download -r $(LOCK) -d $(WHEELHOUSE)
	$(BIN)/python -m pip download "pip==$(PIP_VERSION)" "setuptools>=69" -d $(WHEELHOUSE)

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
