package main

import (
	"cmp"
	"fmt"
)

// inRange refuses a flag's value outside lo to hi, naming the flag, the value and the range.
func inRange[T cmp.Ordered](flag string, v, lo, hi T) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s %v: out of range: want %v to %v", flag, v, lo, hi)
	}
	return nil
}

// firstError is the first of errs that is not nil.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
