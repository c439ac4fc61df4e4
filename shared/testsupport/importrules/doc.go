// Package importrules holds the test that keeps the direction of imports (docs/architecture.md, "Layout in detail"): the
// domain and the contracts stand alone; the services know the domain and the contracts only;
// functions/ link no local stand-in and no DuckDB (cgo); the one-machine pipeline links no AWS
// SDK; nothing but tests imports test support.
package importrules
