# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test clean

install: $(VENV)/.installed

# torch and torchvision first, pinned, in one command: left to the resolver it
# picks a torch of its own choosing (several GB), and smp needs torchvision.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: install
	test -d demo/images || $(BIN)/rootpipe demo demo
	$(BIN)/rootpipe run --profile local

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf results demo .snakemake
