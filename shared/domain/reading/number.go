package reading

import (
	"strconv"
	"unsafe"
)

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// value converts a scanned number. Plain decimals with at most 19 digits whose digits form an
// integer up to 2^53 and at most 22 fraction digits take Clinger's fast path: both operands are
// exact in float64, so the one IEEE division is correctly rounded and the result equals
// strconv.ParseFloat's bit for bit. Anything else (exponents, long mantissas) goes to strconv.
func (n *number) value(raw []byte) (float64, error) {
	if !n.simple || n.digits > 19 || n.mant > 1<<53 || int(n.frac) >= len(pow10) {
		return strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), 64)
	}
	f := float64(n.mant) / pow10[n.frac]
	if n.neg {
		f = -f
	}
	return f, nil
}
