# The project's commands. `make run` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PARAMS ?= params/default.yaml
LAKE ?= lake
STAMP := $(VENV)/.installed
LAKEHOUSE_IVY_DIR ?= .cache/ivy
JARS_MANIFEST := $(LAKEHOUSE_IVY_DIR)/jars/delta-jars.json
CONNECTORS_MANIFEST := $(LAKEHOUSE_IVY_DIR)/jars/connector-jars.json

.PHONY: setup run check test test-each-file reliability notebooks dashboard lab browser clean docs

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -r requirements.txt
	$(BIN)/pip install --no-deps -e .
	touch $(STAMP)

# Delta's jars for the installed pyspark and delta-spark, and the S3A connector for its Hadoop, fetched
# again after the environment is rebuilt (requirements.txt changed); fetch-jars compares each manifest's
# coordinate with the versions and fetches only what is missing.
$(JARS_MANIFEST) $(CONNECTORS_MANIFEST): $(STAMP)
	$(BIN)/python -m lib.lake.session --fetch-jars
	touch $(JARS_MANIFEST) $(CONNECTORS_MANIFEST)

## setup: virtual environment from requirements.txt, the project, Delta's jars and the S3A connector (cached in .cache/)
setup: $(STAMP) $(JARS_MANIFEST) $(CONNECTORS_MANIFEST)

## run: the three notebooks in order on the parameter file (default: the generated 31 days)
run: setup
	$(BIN)/python -m lib.orchestration.runner --params $(PARAMS)

## browser: Debian's headless Chromium for the dashboard's browser test
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

## check: the fast tier, about 70 s on 2 cores: every transform and rule on literal rows, parameters, generator, landing
## selection, dashboard metrics, data-dictionary rules (one Spark session, no lake built)
check: setup
	$(BIN)/python -m pytest -m "not lake and not end_to_end"

## test: the whole suite (fast tier, lakes, notebooks with nbval, runner, scheduler, cluster, faults, browser);
## TEST_WORKERS=2 runs it on two pytest-xdist workers (on 2 cores, slower than one: the tests that start JVMs contend)
TEST_WORKERS ?= 1
test: setup browser
	$(BIN)/python -m pytest $(if $(filter-out 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist worksteal)

## test-each-file: every test file alone, in a pytest process of its own: each passes without the others' fixtures
test-each-file: setup browser
	@failed=""; for file in $$(find tests -name 'test_*.py' | sort); do \
		start=$$(date +%s); $(BIN)/python -m pytest -q $$file > .cache/each-file.log 2>&1; code=$$?; \
		printf '%-50s exit %s, %4s s\n' $$file $$code $$(( $$(date +%s) - start )); \
		if [ $$code -ne 0 ]; then failed="$$failed $$file"; tail -n 20 .cache/each-file.log; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "failed alone:$$failed"; exit 1; fi; echo "every test file passed alone"

## reliability: the reliability suite with every kill point (longer than its part in make test)
reliability: setup
	LAKEHOUSE_RELIABILITY_LONG=1 $(BIN)/python -m pytest tests/lake/test_reliability.py tests/layers/test_bad_input.py tests/layers/test_gold_incremental.py

## maintain: compact, vacuum and checkpoint the lake's tables (PARAMS: its lake_dir and maintenance_retention_hours)
maintain: setup
	$(BIN)/python -m lib.ops.maintain --params $(PARAMS)

## notebooks: refresh the outputs stored in notebooks/ from params/ci.yaml
notebooks: setup
	$(BIN)/python -m lib.orchestration.notebooks --refresh

## docs: regenerate docs/data_dictionary.md from a lake built on params/ci.yaml (in .cache/docs/)
docs: setup
	rm -rf .cache/docs
	$(BIN)/python -m lib.orchestration.runner --params params/ci.yaml --no-progress --runs-dir .cache/docs/runs \
		--set lake_dir=.cache/docs/lake --set landing_dir=.cache/docs/landing
	$(BIN)/python -m lib.ops.datadocs --lake .cache/docs/lake --out docs/data_dictionary.md

## dashboard: the Streamlit app on http://localhost:8501, reading LAKE (relative: from the project root)
dashboard: setup
	$(BIN)/streamlit run dashboard/app.py --server.address localhost --server.headless true --browser.gatherUsageStats false -- --lake $(LAKE)

## lab: JupyterLab on the notebooks, with the project's environment (kernels with CurveZMQ keys)
lab: setup
	$(BIN)/jupyter lab notebooks --KernelManager.transport_encryption=auto

## clean: the lakes, generated landing files and executed notebooks (the shipped samples in data/samples stay)
clean:
	rm -rf lake lake-ci lake-rees46 runs .pytest_cache $(filter-out data/samples,$(wildcard data/*))
