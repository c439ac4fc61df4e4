# iotwatch. `make run` runs the whole pipeline on the bundled data; `make test` is what CI runs.
GO        ?= go
FUNCTIONS := evaluate bronze aggregate silence links notify
BIN       := bin
# The evaluate bootstrap must stay under this size (bytes): 15 MiB.
MAX_BOOTSTRAP := 15728640

# The Lambdas build without cgo; the CLI and the tests need it (DuckDB, for the local lake).
CGO := CGO_ENABLED=1

.PHONY: bench-ratio all build cli test golden alarms-check smoke bench lint fuzz run serve screenshots assets backtest clean synth diff bootstrap deploy destroy

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
	@[ -x $(BIN)/iotwatch ] || echo "== building $(BIN)/iotwatch: the first build compiles DuckDB (C++, through cgo) and takes minutes, silently (1 min 45 s on an idle 2-core machine); later builds take seconds"
	$(CGO) $(GO) build -o $(BIN)/iotwatch ./cmd/iotwatch

# The packages that run goroutines of their own: their tests run again under the race detector.
# (The Lambda handler's tests drive three emulators; under -race they are too slow for goaws, and
# the concurrency they reach is the evaluator's and the SNS publisher's, which run here.)
RACE_PKGS := ./shared/local/dashboard ./shared/local/lakeview ./shared/service/evaluator ./shared/service/links ./shared/local/stream ./shared/local/runner ./shared/local/lakefiles \
	./shared/local/filestore ./shared/local/broker ./shared/local/wal ./shared/aws/snsalerts ./shared/testsupport/memstore

## test: lint, every test (no network, no Docker, no AWS; the stack tests need node), the concurrent
## packages again under -race, the function builds
test: lint build
	$(CDK_ENV) $(CGO) $(GO) test -count=1 -timeout 30m ./...
	$(CGO) $(GO) test -race -count=1 -timeout 30m $(RACE_PKGS)

## golden: rewrite every golden file under testdata/ from what the code writes now, in every
## package at once (deliberately: review the diff). The fixtures of earlier stored formats
## (testdata/formats/) are never rewritten.
golden:
	IOTWATCH_UPDATE=1 $(CDK_ENV) $(CGO) $(GO) test -count=1 ./...

## smoke: against a deployed stack (STACK=iotwatch): a device's readings to an alert, the aggregation
## through Athena, an alarm's notification; it removes what it made (infra/smoke.sh says what it checks)
smoke: cli
	bash infra/smoke.sh

## alarms-check: every alarm's metric against what AWS documents and the project's code emits (no AWS needed)
alarms-check:
	@mkdir -p $(BIN); $(CDK_ENV) $(GO) test -count=1 -run 'TestAlarmsWatchPublishedMetrics' -v ./infra/pipeline > $(BIN)/alarms-check.txt 2>&1; rc=$$?; \
	grep -v '^\(=== RUN\|--- PASS\|PASS\|ok \|!!\|Runtime process\)' $(BIN)/alarms-check.txt | sed 's/^    //'; exit $$rc

## bench: the benchmarks of the hot path; evaluation on one core, as its target says
# The evaluator's targets (issues 23 and 24): BenchmarkEvaluateAllRules and
# BenchmarkEvaluateAllRulesDeclared at least 2.5 times BenchmarkStdlibDecode's readings a second,
# in pairs run back to back in one run, median of 7 (docs/benchmarks.md).
bench-ratio:
	$(GO) test -c -o bin/evaluator.test ./shared/service/evaluator
	for i in 1 2 3 4 5 6 7; do bin/evaluator.test -test.run '^$$' -test.cpu 1 \
		-test.bench 'StdlibDecode$$|EvaluateAllRules$$|EvaluateAllRulesDeclared$$'; done | awk ' \
		$$1 ~ /^BenchmarkStdlibDecode/ { s = $$3 } \
		$$1 ~ /^BenchmarkEvaluateAllRules(Declared)?$$/ { r = s / $$3; n[$$1]++; v[$$1, n[$$1]] = r; printf "%s %.2f\n", $$1, r } \
		END { for (b in n) { for (i = 1; i <= n[b]; i++) for (j = i + 1; j <= n[b]; j++) if (v[b, j] < v[b, i]) { t = v[b, i]; v[b, i] = v[b, j]; v[b, j] = t } \
			printf "%s: StdlibDecode / it, median of %d: %.2f (%.2f-%.2f)\n", b, n[b], v[b, int((n[b] + 1) / 2)], v[b, 1], v[b, n[b]] } }'

bench:
	$(GO) test -run '^$$' -bench 'Evaluate|StdlibDecode' -benchmem -cpu 1 -count 3 ./shared/service/evaluator
	$(GO) test -run '^$$' -bench 'Handler' -benchtime 20x ./shared/aws/kinesislambda
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./shared/domain/reading
	$(CGO) $(GO) test -run '^$$' -bench 'AggregateHour' -benchtime 5x ./shared/local/duckdbengine
	$(GO) test -run '^$$' -bench 'BrokerOnly|LocalPipeline' -benchtime 1x -count 3 ./shared/local/runner
	$(GO) test -run '^$$' -bench 'RestartWith1GBLog' -benchtime 1x ./shared/local/runner
	$(GO) test -run '^$$' -bench 'Append' ./shared/local/wal
	$(GO) test -run '^$$' -bench 'Reopen' -benchtime 3x ./shared/local/wal
	$(GO) test -run '^$$' -bench 'RecordEncoding' ./shared/local/filestore
	$(GO) test -run '^$$' -bench 'SilenceCheck' -benchtime 3x -timeout 60m ./shared/aws/silencelambda
	$(CGO) $(GO) test -run '^$$' -bench 'Pages' -benchtime 5x ./shared/local/dashboard

## lint: gofmt, go vet, staticcheck and errcheck (pinned as tools in go.mod); zero findings.
## The direction of imports is a test (shared/testsupport/importrules).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(CGO) $(GO) vet ./...
	$(CGO) $(GO) tool staticcheck ./...
	$(CGO) $(GO) tool errcheck -ignoretests -exclude .ci/errcheck-excludes.txt ./...
	@if command -v shellcheck >/dev/null; then shellcheck -s bash infra/smoke.sh .ci/run; else echo "lint: shellcheck is not installed: the shell scripts are not checked"; fi

## fuzz: a short run of every fuzz test (FUZZTIME=5m for longer)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./shared/domain/reading
	$(GO) test -run '^$$' -fuzz '^FuzzParseTime$$' -fuzztime $(FUZZTIME) ./shared/domain/reading
	$(GO) test -run '^$$' -fuzz '^FuzzParseNumber$$' -fuzztime $(FUZZTIME) ./shared/domain/reading
	$(GO) test -run '^$$' -fuzz '^FuzzPartitionHour$$' -fuzztime $(FUZZTIME) ./shared/domain/reading
	$(GO) test -run '^$$' -fuzz '^FuzzBatch$$' -fuzztime $(FUZZTIME) ./shared/domain/reading
	$(GO) test -run '^$$' -fuzz '^FuzzShape$$' -fuzztime $(FUZZTIME) ./shared/domain/reading

## run: the whole pipeline on this machine, on the bundled data: `iotwatch run` on a temporary lake,
## two weeks of the occupancy recordings replayed as 3 devices through MQTT, then a summary
RUN_DEVICES ?= 3
run: cli
	@set -e; lake=$$(mktemp -d -t iotwatch-lake.XXXXXX); addr=$$lake/broker.addr; \
	echo "== iotwatch run: lake $$lake"; \
	$(BIN)/iotwatch run --lake $$lake --thresholds events/thresholds.csv --rules events/rules.csv --devices events/devices.csv \
		--mqtt 127.0.0.1:0 --addr-file $$addr --aggregate-every 0 --clock watermark --quiet & pid=$$!; \
	trap 'kill $$pid 2>/dev/null' EXIT; \
	for i in $$(seq 1 100); do [ -s $$addr ] && break; sleep 0.1; done; \
	[ -s $$addr ] || { echo "iotwatch run did not start"; exit 1; }; \
	for f in datatest datatraining datatest2; do \
		echo "== simulate: events/occupancy/$$f.txt as $(RUN_DEVICES) devices, 1% anomalies"; \
		$(BIN)/iotwatch simulate --broker $$(cat $$addr) --csv events/occupancy/$$f.txt --devices $(RUN_DEVICES) --anomalies 0.01; \
	done; \
	echo "== stopping: drain, flush, aggregate"; kill -INT $$pid; wait $$pid; trap - EXIT; \
	echo "== alerts by kind and severity"; \
	$(BIN)/iotwatch query --lake $$lake "SELECT kind, severity, rule, count(*) AS alerts FROM alerts GROUP BY kind, severity, rule ORDER BY rule, kind, severity"; \
	echo "== quarantined by reason"; \
	$(BIN)/iotwatch query --lake $$lake "SELECT json_extract_string(json, '$$.reason') AS reason, count(*) AS records FROM read_json_objects('$$lake/quarantine/*/*/*.json.gz') GROUP BY reason ORDER BY reason"; \
	echo "== hourly metrics of room-1 (Office 1), 2015-02-03"; \
	$(BIN)/iotwatch query --lake $$lake "SELECT hour_start, readings, round(temperature_avg, 2) AS temp_avg, round(temperature_p95, 2) AS temp_p95, round(co2_avg) AS co2_avg, round(occupancy_ratio, 2) AS occupied, round(health_pct) AS health, alerts_warning AS warn, alerts_violation AS viol FROM hourly_metrics WHERE device_id = 'room-1' AND hour_start >= TIMESTAMP '2015-02-03 06:00:00' AND hour_start < TIMESTAMP '2015-02-03 20:00:00' ORDER BY hour_start"; \
	echo "$$lake" > $(BIN)/last-lake; \
	echo "== the lake stays in $$lake (iotwatch query --lake $$lake \"SQL\")"; \
	echo "== its dashboard: make serve   (that is: $(BIN)/iotwatch serve --lake $$lake --devices events/devices.csv --thresholds events/thresholds.csv --rules events/rules.csv, then open http://127.0.0.1:8080/)"; \
	echo "== a one-file report of its last week: $(BIN)/iotwatch report --lake $$lake --devices events/devices.csv --thresholds events/thresholds.csv --rules events/rules.csv --out report.html"

## serve: the dashboard of the lake the last `make run` made (or LAKE=DIR) on http://127.0.0.1:8080/
LAKE ?= $(shell cat $(BIN)/last-lake 2>/dev/null)
serve: cli
	@[ -n "$(LAKE)" ] && [ -d "$(LAKE)" ] || { echo "no lake: run make run first, or give LAKE=DIR"; exit 2; }
	$(BIN)/iotwatch serve --lake $(LAKE) --devices events/devices.csv --thresholds events/thresholds.csv --rules events/rules.csv --http 127.0.0.1:8080

## screenshots: the pictures of the pages in docs/dashboard.md (docs/screenshots/), from the browser tests (needs chromium)
screenshots:
	IOTWATCH_REQUIRE=chromium IOTWATCH_SCREENSHOTS=$(CURDIR)/docs/screenshots $(CGO) $(GO) test -count=1 -run 'TestPagesInABrowser|TestReportInABrowser' ./shared/local/dashboard
	IOTWATCH_REQUIRE=chromium IOTWATCH_SCREENSHOTS=$(CURDIR)/docs/screenshots $(CGO) $(GO) test -count=1 -run 'TestDashboardInABrowser' ./shared/local/runner

## assets: the chart library the pages embed, copied from the npm package package.json pins
assets: node_modules/.bin/cdk
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css shared/local/dashboard/assets/
	cp node_modules/uplot/LICENSE shared/local/dashboard/assets/uPlot.LICENSE

## backtest: the bundled recordings through the alarm core only, alerts as JSON lines
backtest: cli
	@for f in datatest datatraining datatest2; do \
		$(BIN)/iotwatch backtest --thresholds events/thresholds.csv --csv events/occupancy/$$f.txt --device room-1 || exit 1; \
	done

node_modules/.bin/cdk: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## synth: offline, no credentials: builds the functions, synthesizes cdk.out, runs cdk-nag (reports in cdk.out/)
# Two lines the CDK CLI prints that say nothing about this app: jsii's Go runtime exiting
# ("waitid: no child processes", harmless: the synthesis has finished by then), and the count of feature flags left
# at their defaults (on purpose: docs/deploying.md, "Feature flags"). Removed from synth's output,
# its exit status kept.
CDK_QUIET := sed -u -e 's/Runtime process exited abnormally: waitid: no child processes//' -e '/feature flags are not configured/d' -e '/^$$/d'

synth: build node_modules/.bin/cdk
	@mkdir -p $(BIN); { $(CDK) synth --quiet --no-notices $(CDK_ARGS) 2>&1; echo $$? > $(BIN)/synth.rc; } | $(CDK_QUIET); exit $$(cat $(BIN)/synth.rc)
	@ls cdk.out/*NagReport.csv | sed 's/^/cdk-nag report: /'

## bootstrap: once per account and region, the CDK's own stack (its asset bucket and deploy roles),
## with the CLI package.json pins; the account and region are your AWS credentials' (AWS_REGION)
bootstrap: node_modules/.bin/cdk
	$(CDK) bootstrap --no-notices $(CDK_ARGS)

## diff, deploy, destroy: against the account of your AWS credentials (docs/deploying.md)
diff: build node_modules/.bin/cdk
	$(CDK) diff --no-notices $(CDK_ARGS)

deploy: build node_modules/.bin/cdk
	IOTWATCH_DEPLOY=1 $(CDK) deploy --no-notices --require-approval broadening $(CDK_ARGS)

destroy: node_modules/.bin/cdk
	$(CDK) destroy --no-notices $(CDK_ARGS)

clean:
	rm -rf $(BIN) cdk.out
