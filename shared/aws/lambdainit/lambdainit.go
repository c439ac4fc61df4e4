// Package lambdainit reports a function's start-up failure the way Lambda expects it: to the
// Runtime API's init-error endpoint (POST /2018-06-01/runtime/init/error, the documented
// protocol), then exits, so the console and the logs say why the function could not start
// ("TABLE_NAME must be set") instead of "Runtime exited with error".
package lambdainit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"
)

// ErrorType is the errorType an init failure is reported with.
const ErrorType = "Runtime.InitError"

// Fail logs msg with its arguments, reports it to the Runtime API when the process runs under one
// (AWS_LAMBDA_RUNTIME_API), and exits with status 1.
func Fail(log *slog.Logger, msg string, args ...any) {
	log.Error(msg, args...)
	if api := os.Getenv("AWS_LAMBDA_RUNTIME_API"); api != "" {
		if err := Report(http.DefaultClient, api, msg, args...); err != nil {
			log.Error("reporting the init error", "err", err)
		}
	}
	os.Exit(1)
}

// Report posts an init error to the Runtime API at api (host:port).
func Report(c *http.Client, api, msg string, args ...any) error {
	text := msg
	for i := 0; i+1 < len(args); i += 2 {
		text += fmt.Sprintf(" %v=%v", args[i], args[i+1])
	}
	body, err := json.Marshal(map[string]string{"errorMessage": text, "errorType": ErrorType})
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Lambda-Runtime-Function-Error-Type", ErrorType)
	c2 := *c
	c2.Timeout = 5 * time.Second
	resp, err := c2.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("the Runtime API answered %s", resp.Status)
	}
	return nil
}
