package reading

import (
	"strconv"
	"unsafe"
)

// pow10 are the powers of ten exact in float64 (1e0 to 1e22), and room to index it by a
// fraction's length masked to 5 bits.
var pow10 = [32]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
	1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// exactPow10 is how many of pow10 are powers of ten.
const exactPow10 = 23

// value converts a scanned number. Plain decimals with at most 19 digits whose digits form an
// integer up to 2^53 and at most 22 fraction digits take Clinger's fast path: both operands are
// exact in float64, so the one IEEE division is correctly rounded and the result equals
// strconv.ParseFloat's bit for bit. Anything else (exponents, long mantissas) goes to strconv.
func (n *number) value(raw []byte) (float64, error) {
	if n.fast {
		return n.exact(), nil
	}
	return strconv.ParseFloat(unsafe.String(unsafe.SliceData(raw), len(raw)), 64)
}

// exact is the value of a fast number (inlined where a message's metrics are read).
func (n *number) exact() float64 {
	f := float64(int64(n.mant)) / pow10[n.frac&31] // mant <= 2^53 and frac < exactPow10: fast says so
	if n.neg {
		f = -f
	}
	return f
}
