# pixelspace: `make demo` and `make test` set up .venv themselves (offline apart from the package registries).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: demo test lint setup docs bench bench-setup bench-peers train-cifar10 reproduce-cifar10 clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU wheel these machines carry; any other torch spec pulls gigabytes of CUDA packages
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,ray]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/pixelspace demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The documentation site (mkdocs.yml: docs/*.md and an API reference from the docstrings) into site/;
# --strict turns every warning (a broken link or anchor, a page missing from the nav) into a failure.
DOCS_STAMP := $(VENV)/.docs-stamp
$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install -q -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --clean

bench: $(STAMP)
	$(PY) benchmarks/engine_throughput.py

# Peer libraries for benchmarks/peers.py: torchattacks pins an old requests, so it installs without deps;
# ART needs six, scikit-learn and packaging; neither needs torchvision.
bench-setup: $(STAMP)
	$(PY) -m pip install -q --no-deps torchattacks==3.5.1
	$(PY) -m pip install -q adversarial-robustness-toolbox==1.20.1 six scikit-learn packaging

# PEERS_ARGS passes options through, e.g. PEERS_ARGS="--device cuda --images 40" on a GPU (docs/performance.md)
PEERS_ARGS ?=
bench-peers: bench-setup
	$(PY) benchmarks/peers.py $(PEERS_ARGS)

# Train the three CIFAR-10 networks one after another (resumes from runs/<arch>/checkpoint.pt).
CIFAR10 ?= ../shared/data/cifar10-jpeg/cifar10_jpeg.tar.gz
# the shipped nets: 50 epochs on one GPU (docs/models.md); DEVICE=cuda there, days on two CPU cores
EPOCHS ?= 50
DEVICE ?= cpu
train-cifar10: $(STAMP)
	for arch in vgg16 nin allconv; do \
	  $(VENV)/bin/pixelspace train --arch $$arch --data $(CIFAR10) --out runs/$$arch-cifar10.safetensors --epochs $(EPOCHS) --seed 0 --device $(DEVICE) || exit 1; \
	done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site

# The paper's full CIFAR-10 grid (campaigns/paper-cifar10.toml); resumable: run it again after an interruption.
reproduce-cifar10: $(STAMP)
	$(VENV)/bin/pixelspace run campaigns/paper-cifar10.toml
	$(VENV)/bin/pixelspace report stores/paper-cifar10.sqlite --out results/cifar10

# Headless Chromium for the report's browser test (tests/report): installed when missing and apt-get is
# available; never fatal (without it that test skips and says why).
.PHONY: test-browser
test: test-browser
test-browser:
	@command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || \
	  { SUDO=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
	    ($$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium) >/dev/null 2>&1 || \
	    echo "note: could not install chromium; the report's browser test will skip"; }
