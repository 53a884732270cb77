package fakecri

import (
	"bytes"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// The fake runs no processes. It interprets a container's command and
// an ExecSync's cmd with a tiny busybox-like shell, so that the commands
// tests (and the critest suite) use behave as in a real busybox container:
//
//	true, :, false, exit N, echo [-n] ARGS [>&2], printf FMT ARGS,
//	sleep N, env, hostname, cat (no file), test/[ (always true),
//	trap CMD SIGNALS (a TERM/INT trap makes a stop graceful: exit 0),
//	sh -c SCRIPT with statements separated by ';' or newlines,
//	$VAR and ${VAR} from the container's environment, '…' and "…".
//
// Loops (while, until, for) and anything else the interpreter does not
// know make the process run until it is stopped. A command whose
// executable was declared missing (Runtime.MissingExecutable) cannot be
// started: StartContainer fails with containerd's StartError, ExecSync
// with containerd's exec error, and inside sh -c it is
// "sh: NAME: not found", status 127.

// outcome is what a (virtual) run of a command does.
type outcome struct {
	stdout, stderr bytes.Buffer
	status         int32
	slept          time.Duration // time the command takes (sleep)
	exited         bool          // `exit` ran
	forever        bool          // the command does not end by itself
	handlesStop    bool          // a trap on TERM/INT is installed
	missing        string        // argv[0] was a missing executable (direct exec only)
}

type shell struct {
	env     []string // KEY=VALUE, in order
	host    string
	missing func(name string) bool
}

func (sh *shell) lookup(name string) string {
	for i := len(sh.env) - 1; i >= 0; i-- {
		if k, v, _ := strings.Cut(sh.env[i], "="); k == name {
			return v
		}
	}
	return ""
}

// run interprets argv as an executed program (container command or exec).
func (sh *shell) run(argv []string) *outcome {
	o := &outcome{}
	if len(argv) == 0 {
		o.forever = true
		return o
	}
	if sh.missing(argv[0]) {
		o.missing = argv[0]
		return o
	}
	sh.command(o, argv, true)
	return o
}

// script runs statements of an sh -c script.
func (sh *shell) script(o *outcome, script string) {
	for _, stmt := range sh.lex(script) {
		if len(stmt) == 0 {
			continue
		}
		sh.command(o, stmt, false)
		if o.exited || o.forever {
			return
		}
	}
}

// command runs one simple command; direct is true when argv is not inside
// a shell script (then there is no shell to report "not found").
func (sh *shell) command(o *outcome, argv []string, direct bool) {
	out := &o.stdout
	var args []string
	for _, a := range argv {
		switch a {
		case ">&2", "1>&2":
			out = &o.stderr
		case "2>&1", "2>/dev/null":
		case ">/dev/null", "1>/dev/null":
			out = &bytes.Buffer{}
		default:
			args = append(args, a)
		}
	}
	if len(args) == 0 {
		return
	}
	name := path.Base(args[0])
	if !direct && sh.missing(args[0]) {
		fmt.Fprintf(&o.stderr, "sh: %s: not found\n", args[0])
		o.status = 127
		return
	}
	o.status = 0
	switch name {
	case "true", ":", "test", "[", "kill", "touch", "mkdir", "rm", "id", "ls", "ps", "wait":
	case "false":
		o.status = 1
	case "exit":
		o.exited = true
		if len(args) > 1 {
			n, err := strconv.Atoi(args[1])
			if err != nil {
				fmt.Fprintf(&o.stderr, "sh: exit: Illegal number: %s\n", args[1])
				n = 2
			}
			o.status = int32(n & 0xff)
		}
	case "echo":
		rest, nl := args[1:], true
		if len(rest) > 0 && rest[0] == "-n" {
			rest, nl = rest[1:], false
		}
		out.WriteString(strings.Join(rest, " "))
		if nl {
			out.WriteString("\n")
		}
	case "printf":
		if len(args) > 1 {
			out.WriteString(printf(args[1], args[2:]))
		}
	case "sleep":
		for _, a := range args[1:] {
			d, err := strconv.ParseFloat(a, 64)
			if err != nil {
				fmt.Fprintf(&o.stderr, "sleep: invalid number '%s'\n", a)
				o.status = 1
				return
			}
			o.slept += time.Duration(d * float64(time.Second))
		}
	case "env", "printenv":
		for _, kv := range sh.env {
			out.WriteString(kv + "\n")
		}
	case "hostname":
		out.WriteString(sh.host + "\n")
	case "cat":
		if len(args) > 1 {
			fmt.Fprintf(&o.stderr, "cat: can't open '%s': No such file or directory\n", args[1])
			o.status = 1
		}
	case "trap":
		for _, sig := range args[1:] {
			switch strings.TrimPrefix(strings.ToUpper(sig), "SIG") {
			case "TERM", "INT", "15", "2":
				o.handlesStop = true
			}
		}
	case "sh", "ash", "bash":
		if len(args) > 2 && args[1] == "-c" {
			sh.script(o, args[2])
			o.exited = false
		}
		// sh without -c reads an empty stdin and ends: status 0.
	default:
		// while/until/for loops, servers, anything unknown: runs until stopped.
		o.forever = true
	}
}

// lex splits a script into statements of words, honouring quotes and
// backslashes and expanding $VAR and ${VAR} outside single quotes.
func (sh *shell) lex(s string) [][]string {
	var (
		stmts  [][]string
		words  []string
		cur    strings.Builder
		inWord bool
		single bool
		double bool
	)
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case single:
			if c == '\'' {
				single = false
			} else {
				cur.WriteByte(c)
			}
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == '$' && i+1 < len(s):
			name, n := varName(s[i+1:])
			if n == 0 {
				cur.WriteByte(c)
			} else {
				cur.WriteString(sh.lookup(name))
				i += n
			}
			inWord = true
		case double:
			if c == '"' {
				double = false
			} else {
				cur.WriteByte(c)
			}
		case c == '\'':
			single, inWord = true, true
		case c == '"':
			double, inWord = true, true
		case c == ';' || c == '\n':
			flush()
			stmts = append(stmts, words)
			words = nil
		case c == ' ' || c == '\t':
			flush()
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return append(stmts, words)
}

// varName reads a variable name after '$': NAME or {NAME}; n is the
// number of bytes consumed (0: not a variable).
func varName(s string) (name string, n int) {
	if s[0] == '{' {
		if end := strings.IndexByte(s, '}'); end > 1 {
			return s[1:end], end + 1
		}
		return "", 0
	}
	for n < len(s) && (s[n] == '_' || s[n] >= 'a' && s[n] <= 'z' || s[n] >= 'A' && s[n] <= 'Z' || n > 0 && s[n] >= '0' && s[n] <= '9') {
		n++
	}
	return s[:n], n
}

// printf supports %s, %d, %% and the escapes \n, \t, \\.
func printf(format string, args []string) string {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		switch {
		case c == '\\' && i+1 < len(format):
			i++
			switch format[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(format[i])
			}
		case c == '%' && i+1 < len(format):
			i++
			switch format[i] {
			case '%':
				b.WriteByte('%')
			default:
				if len(args) > 0 {
					b.WriteString(args[0])
					args = args[1:]
				}
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
