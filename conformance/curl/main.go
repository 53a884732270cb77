// Command curl is a small static stand-in for curl in the agnhost test
// image (upstream's image installs Alpine's curl, which cannot be fetched
// here). It honours the flags Kubernetes' e2e tests pass: -s -S -f -i -I
// -k -L -v, -X METHOD, -H/--header, -d/--data, -o FILE, -w FORMAT
// (%{http_code} and \n), -m/--max-time and --connect-timeout. Exit codes
// follow curl's for the cases that matter to a shell script: 0 on success,
// 6/7 when the host cannot be resolved or reached, 22 for -f with a status
// of 400 or more, 28 on a timeout, 2 on a usage error.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

type options struct {
	silent, showError, fail, include, head, insecure, follow, verbose bool
	method, data, output, writeOut                                    string
	headers                                                           []string
	maxTime, connectTimeout                                           time.Duration
	url                                                               string
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "curl: %v\n", err)
		return 2
	}
	code, err := fetch(o, stdout, stderr)
	if err != nil && (!o.silent || o.showError) {
		fmt.Fprintf(stderr, "curl: (%d) %v\n", code, err)
	}
	return code
}

func seconds(v string) (time.Duration, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("bad time %q", v)
	}
	return time.Duration(f * float64(time.Second)), nil
}

func parse(args []string) (options, error) {
	var o options
	for i := 0; i < len(args); i++ {
		a := args[i]
		value := func() (string, error) {
			if i+1 >= len(args) {
				return "", fmt.Errorf("option %s: requires parameter", a)
			}
			i++
			return args[i], nil
		}
		var err error
		switch {
		case a == "--header":
			var v string
			v, err = value()
			o.headers = append(o.headers, v)
		case a == "--data" || a == "--data-raw" || a == "--data-binary":
			o.data, err = value()
		case a == "--request":
			o.method, err = value()
		case a == "--output":
			o.output, err = value()
		case a == "--write-out":
			o.writeOut, err = value()
		case a == "--max-time":
			var v string
			if v, err = value(); err == nil {
				o.maxTime, err = seconds(v)
			}
		case a == "--connect-timeout":
			var v string
			if v, err = value(); err == nil {
				o.connectTimeout, err = seconds(v)
			}
		case a == "--silent":
			o.silent = true
		case a == "--show-error":
			o.showError = true
		case a == "--fail":
			o.fail = true
		case a == "--include":
			o.include = true
		case a == "--head":
			o.head = true
		case a == "--insecure":
			o.insecure = true
		case a == "--location":
			o.follow = true
		case a == "--verbose":
			o.verbose = true
		case strings.HasPrefix(a, "--"):
			return o, fmt.Errorf("option %s: is unknown to this stand-in", a)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			// Short options may be grouped (-sIk); one that takes a value
			// takes the rest of the word or the next argument (-XGET, -X GET).
			for j := 1; j < len(a); j++ {
				c := a[j]
				rest := a[j+1:]
				take := func() (string, error) {
					if rest != "" {
						j = len(a)
						return rest, nil
					}
					j = len(a)
					return value()
				}
				switch c {
				case 's':
					o.silent = true
				case 'S':
					o.showError = true
				case 'f':
					o.fail = true
				case 'i':
					o.include = true
				case 'I':
					o.head = true
				case 'k':
					o.insecure = true
				case 'L':
					o.follow = true
				case 'v':
					o.verbose = true
				case 'X':
					o.method, err = take()
				case 'H':
					var v string
					v, err = take()
					o.headers = append(o.headers, v)
				case 'd':
					o.data, err = take()
				case 'o':
					o.output, err = take()
				case 'w':
					o.writeOut, err = take()
				case 'm':
					var v string
					if v, err = take(); err == nil {
						o.maxTime, err = seconds(v)
					}
				default:
					return o, fmt.Errorf("option -%c: is unknown to this stand-in", c)
				}
				if err != nil {
					return o, err
				}
			}
		default:
			if o.url != "" {
				return o, fmt.Errorf("only one URL is supported (got %q and %q)", o.url, a)
			}
			o.url = a
		}
		if err != nil {
			return o, err
		}
	}
	if o.url == "" {
		return o, errors.New("no URL specified")
	}
	if !strings.Contains(o.url, "://") {
		o.url = "http://" + o.url
	}
	return o, nil
}

func fetch(o options, stdout, stderr io.Writer) (int, error) {
	method := o.method
	switch {
	case method != "":
	case o.head:
		method = http.MethodHead
	case o.data != "":
		method = http.MethodPost
	default:
		method = http.MethodGet
	}
	ctx := context.Background()
	if o.maxTime > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.maxTime)
		defer cancel()
	}
	var body io.Reader
	if o.data != "" {
		body = strings.NewReader(o.data)
	}
	req, err := http.NewRequestWithContext(ctx, method, o.url, body)
	if err != nil {
		return 3, err
	}
	req.Header.Set("User-Agent", "curl/8 (berth conformance stand-in)")
	req.Header.Set("Accept", "*/*")
	if o.data != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, h := range o.headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			continue
		}
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	dialer := &net.Dialer{Timeout: o.connectTimeout}
	client := &http.Client{Transport: &http.Transport{
		DialContext:     dialer.DialContext,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: o.insecure}, //nolint:gosec // -k, as curl
		Proxy:           http.ProxyFromEnvironment,
	}}
	if !o.follow {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	if o.verbose {
		fmt.Fprintf(stderr, "> %s %s\n", method, req.URL.RequestURI())
	}
	resp, err := client.Do(req)
	if err != nil {
		var dnsErr *net.DNSError
		var opErr *net.OpError
		switch {
		case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
			return 28, err
		case errors.As(err, &dnsErr):
			return 6, err
		case errors.As(err, &opErr):
			return 7, err
		}
		return 7, err
	}
	defer resp.Body.Close()
	if o.verbose {
		fmt.Fprintf(stderr, "< %s %s\n", resp.Proto, resp.Status)
	}
	if o.fail && resp.StatusCode >= 400 {
		return 22, fmt.Errorf("The requested URL returned error: %d", resp.StatusCode)
	}
	out := stdout
	if o.output != "" && o.output != "-" {
		f, err := os.Create(o.output)
		if err != nil {
			return 23, err
		}
		defer f.Close()
		out = f
	}
	if o.include || o.head {
		fmt.Fprintf(out, "%s %s\r\n", resp.Proto, resp.Status)
		_ = resp.Header.Write(out)
		fmt.Fprint(out, "\r\n")
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 28, err
		}
		return 18, err
	}
	if o.writeOut != "" {
		w := strings.NewReplacer(`%{http_code}`, strconv.Itoa(resp.StatusCode), `%{response_code}`, strconv.Itoa(resp.StatusCode), `\n`, "\n")
		fmt.Fprint(stdout, w.Replace(o.writeOut))
	}
	return 0, nil
}
