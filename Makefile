# Every target creates (or reuses) the virtual environment in .venv first, so each one works
# when it is the first command run on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup app test lab lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[all]"
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
	$(BIN)/python -m pytest

lab: $(STAMP)
	$(BIN)/jupyter lab chapters

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache
