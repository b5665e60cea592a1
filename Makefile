# customs-risk: set-up, tests, the pipeline and the main job (`make serve`).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint typecheck format main pipeline champion serve cycle platform metrics plots clean

$(BIN)/python:
	$(shell command -v $(PYTHON) || echo python3) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: install typecheck
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

lint: install typecheck
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# mypy on the package (settings in pyproject.toml [tool.mypy]; src/ is seen as customs_risk
# through the symlink typecheck/customs_risk)
typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

# --- the pipeline (dvc.yaml, params.yaml) and the main job --------------------------------------
# Stage commands call `customs-risk`, so the venv's bin/ goes first on their PATH. The MLflow store
# (CUSTOMS_RISK_MLFLOW_URI, default sqlite:///mlflow.db here) and the BentoML store live in the
# checkout unless the environment says otherwise.
HOST ?= 127.0.0.1
PORT ?= 3000
export BENTOML_HOME ?= $(CURDIR)/bentoml_home
DVC := env PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc
CLI := $(BIN)/customs-risk
REQUEST := examples/score_request.json
# "<version> <run id>" of the registry's champion; fails when there is none
CHAMPION_ID := $(BIN)/python -c 'from customs_risk.models.tracking import MlflowSettings as S, \
	configure as c, resolve_version as r; v = r(c(S()), alias="champion"); print(v.version, v.run_id)'

# generate -> validate -> train -> evaluate -> promote; only what changed runs
pipeline: install
	$(DVC) repro

# the old name of the batch job: the pipeline, without serving
main: pipeline

# the champion in the BentoML store; imported again only when the registry's champion changed.
# Without a champion (an MLflow store wiped while DVC's outputs are cached) train and promote run
# again, so that the registry gets one.
champion: pipeline
	@id=$$($(CHAMPION_ID) 2>/dev/null) || { \
	  echo "no champion in the MLflow registry: training and promoting again"; \
	  $(DVC) repro --force --single-item train && $(DVC) repro --force --single-item promote \
	  && $(DVC) repro && id=$$($(CHAMPION_ID)); } || exit 1; \
	if [ -f "$(BENTOML_HOME)/models/customs-risk/latest" ] \
	  && [ "$$(cat "$(BENTOML_HOME)/.champion" 2>/dev/null)" = "$$id" ]; then \
	  echo "champion (version run) $$id is already in the BentoML store $(BENTOML_HOME)"; \
	else \
	  $(CLI) import-model --alias champion && echo "$$id" > "$(BENTOML_HOME)/.champion"; \
	fi

# the main job: pipeline, champion into BentoML, the endpoint on $(HOST):$(PORT), an example request
serve: champion
	@echo "starting the endpoint on http://$(HOST):$(PORT) (Ctrl-C stops it)"
	@$(CLI) serve --host $(HOST) --port $(PORT) & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; exit 0' INT TERM; \
	ready=; for i in $$(seq 1 180); do \
	  if curl -sf -o /dev/null http://$(HOST):$(PORT)/readyz; then ready=1; break; fi; \
	  kill -0 $$pid 2>/dev/null || break; sleep 1; done; \
	if [ -z "$$ready" ]; then echo "the endpoint did not become ready"; \
	  kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; exit 1; fi; \
	echo; echo "ready. Example request ($(REQUEST)):"; \
	echo "  curl -s -X POST http://$(HOST):$(PORT)/score -H 'Content-Type: application/json' -d @$(REQUEST)"; \
	echo "response:"; \
	curl -s -X POST http://$(HOST):$(PORT)/score -H 'Content-Type: application/json' -d @$(REQUEST); \
	echo; echo "also: curl -s http://$(HOST):$(PORT)/model ; curl -s http://$(HOST):$(PORT)/metrics"; \
	wait $$pid

# one turn of the risk-management cycle from the store (customs-risk cycle --help): export,
# validate, train, promote, import; a running `make serve` switches to a new champion by itself
cycle: install
	$(CLI) cycle

# the risk management platform on the service's store, dashboards from the pipeline's world
# (docs/platform.md); the first admin: customs-risk users add NAME --role admin
PLATFORM_PORT ?= 8000
platform: pipeline
	CUSTOMS_RISK_PLATFORM_DATA=$${CUSTOMS_RISK_PLATFORM_DATA:-data/raw/world} \
		$(CLI) platform --host $(HOST) --port $(PLATFORM_PORT)

metrics: install
	$(DVC) metrics show

plots: install
	$(DVC) plots show -o reports/dvc_plots

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
