# One place for every command the README names. `make test` is what CI runs (.ci/run).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the language model the NLU is trained on: the committed one (epoch 3 of `make pretrain`) unless told otherwise
LM ?= checkpoints/elmol-lm-epoch3.pt

.PHONY: install test lint unit serve serve-local pretrain train export bench results loadtest clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[train,export,service,dev]'
	touch $(STAMP)

install: $(STAMP)

## set up, lint, and run every test (the container test included when a Docker engine can be set up)
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

## tests without the container
unit: $(STAMP)
	$(PY) -m pytest -q -m "not container"

lint: $(STAMP)
	$(VENV)/bin/ruff check .

## serve the shipped default model in Docker on port 8000
serve:
	docker compose up --build

## serve without Docker
serve-local: $(STAMP)
	$(PY) -m service --host 0.0.0.0 --port 8000

## the three stages that make models/default (see README for the time each takes here)
pretrain: $(STAMP)
	$(PY) -m training.pretrain_lm --out runs/elmol --epochs 4

train: $(STAMP)
	$(PY) -m training.train_nlu --lm $(LM) --out runs/nlu

export: $(STAMP)
	mkdir -p checkpoints && cp runs/nlu/nlu.pt checkpoints/massive-en-nlu.pt
	$(PY) -m export --checkpoint checkpoints/massive-en-nlu.pt --out models/default

bench: $(STAMP)
	$(PY) -m bench.latency --model-dir models/default

## the README's results table and training curve, from the manifest and the benchmark's JSON
results: $(STAMP)
	$(PY) -m bench.results --model-dir models/default --latency reports/latency.json

loadtest: $(STAMP)
	bash loadtest/run.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
