package enrol

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// nameProblem says why a display name cannot be stored, or "". Invisible
// characters would let two people look alike in every list (and the door's
// log), and bidirectional overrides reorder what is shown.
func nameProblem(n string) string {
	if !utf8.ValidString(n) {
		return "the name is not valid UTF-8 text"
	}
	for _, r := range n {
		switch {
		case unicode.IsControl(r):
			return "the name contains control characters"
		case unicode.Is(unicode.Bidi_Control, r):
			return fmt.Sprintf("the name contains a bidirectional control character (U+%04X), which reorders how it is shown", r)
		case invisible(r):
			return fmt.Sprintf("the name contains an invisible character (U+%04X, such as a zero-width space)", r)
		}
	}
	return ""
}

// invisible reports characters that show nothing: format characters (zero
// widths, joiners, the BOM, soft hyphen, ...) and a few that Unicode
// lists elsewhere but render as nothing.
func invisible(r rune) bool {
	switch r {
	case 0x115F, 0x1160, 0x3164, 0xFFA0, 0x180E, 0x034F:
		return true
	}
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Variation_Selector, r)
}

// foldName is what two names are compared by: without invisible characters,
// space runs collapsed, case folded.
func foldName(n string) string {
	var b strings.Builder
	for _, r := range n {
		if !invisible(r) && !unicode.IsControl(r) {
			b.WriteRune(r)
		}
	}
	return strings.ToLower(strings.Join(strings.Fields(b.String()), " "))
}

// NameWarning returns a warning when another person's name differs from
// name only by letter case, spacing or invisible characters (but is not the
// same text): the two would look alike in every list and in the entry log.
// It returns "" otherwise, and when the library cannot be read (the check
// is advice).
func (s *Service) NameWarning(ctx context.Context, name string) string {
	people, err := s.lib.People(ctx)
	if err != nil {
		return ""
	}
	f := foldName(name)
	for _, p := range people {
		if p.Name != name && foldName(p.Name) == f {
			return fmt.Sprintf("the name %q looks like person %d %q (it differs only in letter case, spacing or invisible characters)", name, p.ID, p.Name)
		}
	}
	return ""
}
