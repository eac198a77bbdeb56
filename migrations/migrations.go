package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed *.sql
var files embed.FS

// Migration is one schema step; Version is its number (1-based, gapless).
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// All returns the migrations in version order. It fails if the numbering has
// a gap or a duplicate, which a test checks at build time.
func All() ([]Migration, error) {
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	sort.Strings(names)
	out := make([]Migration, 0, len(names))
	for i, n := range names {
		num, _, ok := strings.Cut(n, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migrations: file %q is not named NNNN_name.sql", n)
		}
		if v != i+1 {
			return nil, fmt.Errorf("migrations: file %q has version %d, want %d", n, v, i+1)
		}
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		out = append(out, Migration{Version: v, Name: n, SQL: string(b)})
	}
	return out, nil
}
