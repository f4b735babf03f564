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
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/python -m pytest

# The shipped model, in two steps (docs/segmentation.md; rootpipe/models/default.md is its card):
# 1. a small U-Net (mobilenet_v2 encoder, fp16 weights < 10 MB) trained from scratch on synthetic
#    campaigns, about 20 CPU-minutes on 2 cores;
# 2. from it, the generalist: the real sets whose licences allow shipping derived weights
#    (PlantRootSeg peanut and switchgrass, AGPL-3.0; TILLMore barley, GPL-3.0) beside synthetic
#    campaigns, lab-to-lab augmentation and a centre-line recall term, 3 x 2,200 steps (each at
#    half the learning rate of the one before); about 120 CPU-minutes.
# DATA is the folder of the annotated images and their pairs.csv; SegRoot soybean is never used here.
DATA ?=
GENERALIST_SETS := plantrootseg_peanut,plantrootseg_switchgrass,tillmore_barley
# pixels beside TILLMore's 4 px centre-line strokes left unlabelled (a polyline gives no width);
# fewer draw its roots narrower (docs/segmentation.md, "How wide a mask may draw TILLMore's roots")
CENTRELINE_BAND_PX ?= 6
# torch threads per training step: 1 is the shipped recipe's (one core each for two runs side by side);
# 2 took 19-21 min a step on a 2-core machine against 36-42 with 1 (docs/segmentation.md)
TRAIN_THREADS ?= 1

build/synthetic.safetensors: | install
	$(BIN)/rootpipe train --synthetic build/synthetic-training --out $@ \
		--epochs 8 --steps 60 --batch 8 --tile 256 --threads 2

GENERALIST = $(BIN)/rootpipe train --pairs $(DATA)/pairs.csv --dataset $(GENERALIST_SETS) \
	--synthetic build/synthetic-training --synthetic-share 0.1 \
	--augmentation lab --lab-fraction 0.5 --skeleton-weight 0.3 --centreline-band-px $(CENTRELINE_BAND_PX) --root-fraction 0.6 \
	--epochs 10 --steps 220 --threads $(TRAIN_THREADS) --licence AGPL-3.0-only

default-model: install build/synthetic.safetensors
	@test -n "$(DATA)" -a -f "$(DATA)/pairs.csv" || { echo "make default-model: give DATA=folder holding the annotated images and their pairs.csv"; exit 1; }
	$(GENERALIST) --init build/synthetic.safetensors --lr 2e-3 --out build/generalist-1.safetensors
	$(GENERALIST) --init build/generalist-1.safetensors --lr 1e-3 --out build/generalist-2.safetensors
	$(GENERALIST) --init build/generalist-2.safetensors --lr 5e-4 --out rootpipe/models/default.safetensors

# The demo and its results only: a real campaign's results/ (config.yaml not pointing at the demo) stays.
clean:
	@if [ -d results ] && ! grep -q '^input_dir: demo/images' config/config.yaml; then \
		echo "make clean: results/ is not the demo's (config/config.yaml input_dir is not demo/images); remove it by hand"; \
		exit 1; fi
	rm -rf results demo .snakemake
