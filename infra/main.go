// Command infra is the CDK app: `cdk synth` (make synth) runs it. It reads its settings from the
// CDK context (cdk.json, or -c key=value), builds the stack and checks it with cdk-nag.
package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/iotwatch/iotwatch/shared/contract/fnenv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/iotwatch/iotwatch/infra/pipeline"
	"github.com/iotwatch/iotwatch/shared/domain/channel"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	props, err := propsFrom(app)
	if err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(2)
	}
	name := context(app, "stackName", "iotwatch")
	pipeline.NewStack(app, name, props)
	pipeline.Checks(app)
	app.Synth(nil)
}

func context(app awscdk.App, key, def string) string {
	if v, ok := app.Node().TryGetContext(jsii.String(key)).(string); ok && v != "" {
		return v
	}
	return def
}

func number(app awscdk.App, key string, def float64) (float64, error) {
	switch v := app.Node().TryGetContext(jsii.String(key)).(type) {
	case nil:
		return def, nil
	case float64:
		return v, nil
	case string:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("context %s=%q is not a number", key, v)
		}
		return f, nil
	default:
		return 0, fmt.Errorf("context %s=%v is not a number", key, v)
	}
}

func propsFrom(app awscdk.App) (*pipeline.Props, error) {
	p := &pipeline.Props{
		FunctionsDir: context(app, "functionsDir", "bin"),
		AlarmEmail:   "",
		StackProps: awscdk.StackProps{
			Description: jsii.String("iotwatch: room sensors on AWS IoT Core, alerts, a data lake and hourly aggregates"),
			Env: &awscdk.Environment{
				Account: jsii.String(os.Getenv("CDK_DEFAULT_ACCOUNT")),
				Region:  jsii.String(os.Getenv("CDK_DEFAULT_REGION")),
			},
		},
	}
	email, warning, err := alarmEmail(context(app, "alarmEmail", ""), os.Getenv(DeployEnv) != "")
	if err != nil {
		return nil, err
	}
	if warning != "" {
		fmt.Fprintln(os.Stderr, "infra: warning:", warning)
	}
	p.AlarmEmail = email
	if *p.Env.Account == "" {
		p.Env = nil // environment-agnostic synth (offline, no credentials)
	}
	switch mode := context(app, "streamMode", "provisioned"); mode {
	case "provisioned":
	case "on-demand":
		p.OnDemand = true
	default:
		return nil, fmt.Errorf("context streamMode=%q: want provisioned or on-demand", mode)
	}
	if p.Shards, err = number(app, "shards", 1); err != nil {
		return nil, err
	}
	if p.Shards < 1 || p.Shards != float64(int(p.Shards)) {
		return nil, fmt.Errorf("context shards=%v: want a whole number of at least 1", p.Shards)
	}
	if p.BatchSize, err = number(app, "batchSize", 500); err != nil {
		return nil, err
	}
	if p.BytesScannedCutoff, err = number(app, "athenaBytesCutoff", 10e9); err != nil {
		return nil, err
	}
	if p.LinksConcurrency, err = number(app, "linksConcurrency", 0); err != nil {
		return nil, err
	}
	if err := linksConcurrency(p.LinksConcurrency); err != nil {
		return nil, err
	}
	if p.Heartbeat, err = heartbeat(app.Node().TryGetContext(jsii.String("heartbeat"))); err != nil {
		return nil, err
	}
	if p.PagerDutyURL, err = pagerDutyURL(context(app, "pagerdutyUrl", "")); err != nil {
		return nil, err
	}
	if p.TableCapacity, err = tableCapacity(context(app, "tableCapacity", "on-demand"),
		context(app, "tableReads", "1-1000"), context(app, "tableWrites", "1-1000")); err != nil {
		return nil, err
	}
	return p, nil
}

// pagerDutyURL checks the context key pagerdutyUrl: the notify function's PagerDuty Events API
// v2 endpoint, an https URL as a channel's (PagerDuty's own when empty).
func pagerDutyURL(v string) (string, error) {
	if v == "" {
		return fnenv.DefaultPagerDutyURL, nil
	}
	if err := channel.ValidURL(v); err != nil {
		return "", fmt.Errorf("context pagerdutyUrl: %w", err)
	}
	return v, nil
}

// linksConcurrency checks the context key linksConcurrency: the concurrent executions reserved
// for the links function, a whole number; 0 reserves none.
func linksConcurrency(v float64) error {
	if v < 0 || v != math.Trunc(v) || math.IsInf(v, 0) {
		return fmt.Errorf("context linksConcurrency=%v: want a whole number of executions, 0 for none reserved", v)
	}
	return nil
}

// tableCapacity reads the context keys tableCapacity (on-demand or provisioned) and, for
// provisioned, tableReads and tableWrites: the units a second auto scaling stays within, MIN-MAX.
func tableCapacity(mode, reads, writes string) (*pipeline.TableCapacity, error) {
	switch mode {
	case "on-demand":
		return nil, nil
	case "provisioned":
	default:
		return nil, fmt.Errorf("context tableCapacity=%q: want on-demand or provisioned", mode)
	}
	var c pipeline.TableCapacity
	for _, r := range []struct {
		key, v   string
		min, max *float64
	}{{"tableReads", reads, &c.MinReads, &c.MaxReads}, {"tableWrites", writes, &c.MinWrites, &c.MaxWrites}} {
		lo, hi, ok := strings.Cut(r.v, "-")
		a, errA := strconv.ParseUint(lo, 10, 32)
		b, errB := strconv.ParseUint(hi, 10, 32)
		if !ok || errA != nil || errB != nil || a < 1 || b < a || b > 40000 {
			return nil, fmt.Errorf("context %s=%q: want MIN-MAX, whole units a second, 1 <= MIN <= MAX <= 40000 (for example 200-1000)", r.key, r.v)
		}
		*r.min, *r.max = float64(a), float64(b)
	}
	return &c, nil
}

// DefaultHeartbeat is the heartbeat's floor unless the context sets one: at least one valid
// reading in 15 minutes from the whole fleet.
const DefaultHeartbeat = 1

// heartbeat reads the context key heartbeat: "off" (no heartbeat alarm), or the least number of
// valid readings the fleet sends in 15 minutes (a whole number, at least 1; default 1). A fleet
// that reports every minute sends 15 a device: a floor of about half of that catches a fleet
// that has mostly gone quiet, not only one that has stopped.
func heartbeat(v any) (float64, error) {
	switch v := v.(type) {
	case nil:
		return DefaultHeartbeat, nil
	case float64:
		if v >= 1 && v == float64(int64(v)) {
			return v, nil
		}
	case string:
		if v == "off" {
			return 0, nil
		}
		if n, err := strconv.ParseUint(v, 10, 32); err == nil && n >= 1 {
			return float64(n), nil
		}
	}
	return 0, fmt.Errorf("context heartbeat=%v: want off, or the least number of valid readings in 15 minutes (a whole number, at least 1)", v)
}

// DeployEnv is set by `make deploy`: the app then refuses a stack whose alarms reach nobody.
const DeployEnv = "IOTWATCH_DEPLOY"

// alarmEmail reads the context key alarmEmail: an address subscribes to the operators' topic;
// "none" says on purpose that nobody does. Empty is refused for a deploy (the alarms would reach
// nobody) and only warned about otherwise (make synth, offline, in CI).
func alarmEmail(v string, deploying bool) (email, warning string, err error) {
	switch {
	case v == "none":
		return "", "", nil
	case v == "" && deploying:
		return "", "", fmt.Errorf("context alarmEmail is empty: the stack's alarms would notify nobody. " +
			"Give an address (make deploy CDK_ARGS='-c alarmEmail=ops@example.com'), or -c alarmEmail=none to deploy without one on purpose")
	case v == "":
		return "", "context alarmEmail is empty: no one is subscribed to the alarms (make deploy refuses this; -c alarmEmail=ADDRESS or none)", nil
	case !strings.Contains(v, "@") || strings.ContainsAny(v, " ,;"):
		return "", "", fmt.Errorf("context alarmEmail=%q is not one email address", v)
	}
	return v, "", nil
}
