package reading

import "encoding/binary"

// A device's firmware writes the same keys in the same order in every message. A Decoder keeps
// the keys of the last message it scanned (and of the last element of a batched message) as
// they came, `"name":` byte for byte, with where each one's value goes. At the j-th member of
// the next object the scanner first compares the bytes there with the j-th kept key: when they
// are equal, the key is the one str would scan and target would find, its name has no escape
// and no space before its colon, so the scanner steps over it at once. A key that differs (or a
// field the contract ignores, whose repeats need its name) takes the full path and is kept for
// the next object. Stepping over a key instead of scanning it saved a sixth of the instructions
// of a decoding (BenchmarkDecodeDeclared, docs/benchmarks.md).

// shapeKeys is how many members of an object are kept; shapeWords*8 bytes the longest key
// (`"humidity_ratio":` is 17).
const (
	shapeKeys  = 16
	shapeWords = 3
)

// shape is the keys of the last object of one kind a Decoder scanned.
type shape struct {
	cat  *Catalog // the catalog the declared metrics' codes are of
	keys [shapeKeys]shapeKey
}

// shapeKey is one kept key: `"name":` as little-endian words (zero past its end), the masks
// of its bytes in them, its length (0: none kept) and its field's code.
type shapeKey struct {
	w, mask [shapeWords]uint64
	n       uint8
	code    int8
}

// readyShapes is d's shapes for a message, forgotten when the catalog changed (the declared
// metrics' codes are catalog indexes).
func (d *Decoder) readyShapes() *[2]shape {
	if d.shapes[0].cat != d.Catalog {
		d.shapes = [2]shape{{cat: d.Catalog}, {cat: d.Catalog}}
	}
	return &d.shapes
}

// key is the key kept at j (nil: none, or sh is nil).
func (sh *shape) key(j int) *shapeKey {
	if sh == nil || j >= shapeKeys || sh.keys[j].n == 0 {
		return nil
	}
	return &sh.keys[j]
}

// starts reports whether b starts with k: three words compared at once, or byte by byte near
// the end of a message.
func (k *shapeKey) starts(b []byte) bool {
	if len(b) < shapeWords*8 {
		return k.startsShort(b)
	}
	return (binary.LittleEndian.Uint64(b)^k.w[0])&k.mask[0]|
		(binary.LittleEndian.Uint64(b[8:])^k.w[1])&k.mask[1]|
		(binary.LittleEndian.Uint64(b[16:])^k.w[2])&k.mask[2] == 0
}

func (k *shapeKey) startsShort(b []byte) bool {
	if len(b) < int(k.n) {
		return false
	}
	var raw [shapeWords * 8]byte
	for i := range shapeWords {
		binary.LittleEndian.PutUint64(raw[i*8:], k.w[i])
	}
	return string(b[:k.n]) == string(raw[:k.n])
}

// keep keeps raw, the j-th key of an object scanned in full (from its opening quote to its
// colon), for the next object: when it names a field the contract names, unescaped, with
// nothing between its closing quote and the colon; else nothing is kept at j.
func (sh *shape) keep(j int, raw []byte, code int8, escaped bool) {
	if sh == nil || j >= shapeKeys {
		return
	}
	k := &sh.keys[j]
	if code == codeOther || escaped || len(raw) > shapeWords*8 || raw[len(raw)-2] != '"' {
		k.n = 0
		return
	}
	var buf [shapeWords * 8]byte
	copy(buf[:], raw)
	for i := range shapeWords {
		k.w[i] = binary.LittleEndian.Uint64(buf[i*8:])
		switch left := len(raw) - i*8; {
		case left >= 8:
			k.mask[i] = ^uint64(0)
		case left <= 0:
			k.mask[i] = 0
		default:
			k.mask[i] = 1<<(8*left) - 1
		}
	}
	k.n, k.code = uint8(len(raw)), code
}
