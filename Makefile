# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test default-model clean

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

# The shipped model: a small U-Net (mobilenet_v2 encoder, fp16 weights < 10 MB)
# trained from scratch on synthetic campaigns; about 30 CPU-minutes on 2 cores.
default-model: install
	$(BIN)/rootpipe train --synthetic build/synthetic-training --out rootpipe/models/default.safetensors \
		--epochs 8 --steps 60 --batch 8 --tile 256 --threads 2

# The demo and its results only: a real campaign's results/ (config.yaml not pointing at the demo) stays.
clean:
	@if [ -d results ] && ! grep -q '^input_dir: demo/images' config/config.yaml; then \
		echo "make clean: results/ is not the demo's (config/config.yaml input_dir is not demo/images); remove it by hand"; \
		exit 1; fi
	rm -rf results demo .snakemake
