# iotwatch. `make run` backtests the bundled data; `make test` is what CI runs.
GO        ?= go
FUNCTIONS := evaluate aggregate
BIN       := bin
# The evaluate bootstrap must stay under this size (bytes): 15 MiB.
MAX_BOOTSTRAP := 15728640

# The Lambdas build without cgo; the CLI and the tests need it (DuckDB, for the local lake).
CGO := CGO_ENABLED=1

.PHONY: all build cli test bench lint fuzz run clean synth diff deploy destroy

# The CDK: the CLI pinned in package.json, quiet and self-contained (caches under .cache/).
CDK_ENV := CI=true CDK_DISABLE_CLI_TELEMETRY=true JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 \
	JSII_RUNTIME_PACKAGE_CACHE_ROOT=$(CURDIR)/.cache/jsii CDK_HOME=$(CURDIR)/.cache/cdk
CDK := $(CDK_ENV) npx --no-install cdk
# Extra arguments, e.g. CDK_ARGS='-c alarmEmail=ops@example.com -c shards=2'
CDK_ARGS ?=

all: lint test

## build: every function as a linux/arm64 `bootstrap` under bin/<function>/ (CGO off, stripped)
build:
	@for f in $(FUNCTIONS); do \
		GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
			-o $(BIN)/$$f/bootstrap ./functions/$$f || exit 1; \
		size=$$(stat -c %s $(BIN)/$$f/bootstrap); \
		printf '%-12s %s bytes (%s MiB)\n' "$$f" "$$size" "$$(awk "BEGIN{printf \"%.1f\", $$size/1048576}")"; \
		if [ $$f = evaluate ] && [ $$size -gt $(MAX_BOOTSTRAP) ]; then echo "evaluate bootstrap is over 15 MiB"; exit 1; fi; \
	done

## cli: the iotwatch command for this machine, in bin/
cli:
	$(CGO) $(GO) build -o $(BIN)/iotwatch ./cmd/iotwatch

## test: vet, every test (no network, no Docker, no AWS; the stack tests need node), the function builds
test: lint build
	$(CDK_ENV) $(CGO) $(GO) test -count=1 ./...

## bench: the benchmarks of the hot path; evaluation on one core, as its target says
bench:
	$(GO) test -run '^$$' -bench 'Evaluate|StdlibDecode' -benchmem -cpu 1 -count 3 ./shared/evaluator
	$(GO) test -run '^$$' -bench 'Handler' -benchtime 20x ./shared/evaluator
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./shared/reading
	$(CGO) $(GO) test -run '^$$' -bench 'AggregateHour' -benchtime 5x ./shared/duckdblake

## lint: gofmt and go vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(CGO) $(GO) vet ./...
	@if $(GO) list -deps ./functions/... | grep -q duckdb; then echo "a Lambda imports DuckDB: keep cgo out of functions/"; exit 1; fi

## fuzz: a short run of every fuzz test (FUZZTIME=5m for longer)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./shared/reading
	$(GO) test -run '^$$' -fuzz '^FuzzParseTime$$' -fuzztime $(FUZZTIME) ./shared/reading
	$(GO) test -run '^$$' -fuzz '^FuzzParseNumber$$' -fuzztime $(FUZZTIME) ./shared/reading

## run: backtest the bundled occupancy data (three recordings of one room) with the bundled thresholds
run: cli
	@for f in datatest datatraining datatest2; do \
		echo "== events/occupancy/$$f.txt as room-1, thresholds events/thresholds.csv"; \
		$(BIN)/iotwatch backtest --thresholds events/thresholds.csv --csv events/occupancy/$$f.txt --device room-1 || exit 1; \
	done

node_modules/.bin/cdk: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## synth: offline, no credentials: builds the functions, synthesizes cdk.out, runs cdk-nag (reports in cdk.out/)
synth: build node_modules/.bin/cdk
	$(CDK) synth --quiet --no-notices $(CDK_ARGS)
	@ls cdk.out/*NagReport.csv | sed 's/^/cdk-nag report: /'

## diff, deploy, destroy: against the account of your AWS credentials (see README, "Deploying to AWS")
diff: build node_modules/.bin/cdk
	$(CDK) diff --no-notices $(CDK_ARGS)

deploy: build node_modules/.bin/cdk
	$(CDK) deploy --no-notices --require-approval broadening $(CDK_ARGS)

destroy: node_modules/.bin/cdk
	$(CDK) destroy --no-notices $(CDK_ARGS)

clean:
	rm -rf $(BIN) cdk.out
