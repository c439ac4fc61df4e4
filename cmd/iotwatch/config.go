package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"
)

// applyConfig sets, from a TOML file, every flag the command line did not set: a key is a flag's
// name without the dashes (mqtt = "0.0.0.0:8883", max-log-bytes = 1073741824). A file that does
// not parse, an unknown key or a bad value refuses the whole file, with its line.
func applyConfig(path string, flags *pflag.FlagSet) error {
	text, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the config: %w", err)
	}
	var values map[string]any
	if _, err := toml.Decode(string(text), &values); err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return fmt.Errorf("%s:%d: %s", path, perr.Position.Line, perr.Message)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		line := lineOf(string(text), k)
		f := flags.Lookup(k)
		if f == nil || k == "config" {
			return fmt.Errorf("%s:%d: %q is not a setting of this command (settings are its flags without the dashes)", path, line, k)
		}
		if f.Changed {
			continue // the command line wins
		}
		var v string
		switch x := values[k].(type) {
		case []any:
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = fmt.Sprint(e)
			}
			v = strings.Join(parts, ",")
		case map[string]any:
			return fmt.Errorf("%s:%d: %q: want a value, not a table", path, line, k)
		default:
			v = fmt.Sprint(x)
		}
		if err := f.Value.Set(v); err != nil {
			return fmt.Errorf("%s:%d: %s = %q: %w", path, line, k, v, err)
		}
		f.Changed = true
	}
	return nil
}

// lineOf is the line of the file where key is set (0 when not found).
func lineOf(text, key string) int {
	re := regexp.MustCompile(`^\s*["']?` + regexp.QuoteMeta(key) + `["']?\s*=`)
	for i, l := range strings.Split(text, "\n") {
		if re.MatchString(l) {
			return i + 1
		}
	}
	return 0
}
