package reading

import (
	"strconv"
	"unsafe"
)

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// value converts a scanned number: the exact fast path when the scan allows it, else strconv.
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

// parseNumber converts a JSON number (already checked against the grammar) to float64. Plain
// decimals with at most 19 digits whose digits form an integer up to 2^53 and at most 22 fraction
// digits take Clinger's fast path: both operands are exact in float64, so the one IEEE division is
// correctly rounded and the result equals strconv.ParseFloat's bit for bit. Anything else
// (exponents, long mantissas) goes to strconv.ParseFloat.
func parseNumber(b []byte) (float64, error) {
	i, neg := 0, false
	if len(b) > 0 && b[0] == '-' {
		neg, i = true, 1
	}
	var mant uint64
	digits, frac := 0, 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		mant = mant*10 + uint64(b[i]-'0')
		digits++
	}
	if i < len(b) && b[i] == '.' {
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			mant = mant*10 + uint64(b[i]-'0')
			digits++
			frac++
		}
	}
	if i != len(b) || digits > 19 || mant > 1<<53 || frac >= len(pow10) {
		return strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
	}
	f := float64(mant) / pow10[frac]
	if neg {
		f = -f
	}
	return f, nil
}
