// Package expansion is Kubernetes' $(VAR) expansion, used for env values,
// command and args, and subPathExpr. It is pure: no I/O, no Kubernetes
// types.
package expansion

import (
	"strings"
	"unicode/utf8"
)

// Expand replaces $(NAME) with lookup(NAME) when lookup answers, keeps an
// unresolved or unterminated reference as written, turns $$ into $, and
// leaves anything else literal, as Kubernetes does.
func Expand(s string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			// The kubelet decodes the rune after a lone $ and writes it
			// back, so an invalid UTF-8 byte there becomes U+FFFD. Found
			// by FuzzExpand; kept for byte-for-byte agreement.
			r, size := utf8.DecodeRuneInString(s[i+1:])
			b.WriteByte('$')
			b.WriteRune(r)
			i += size
		}
	}
	return b.String()
}
