package pki

import (
	"crypto/x509"
	"fmt"
	"time"
)

// RenewAfter is the share of a certificate's lifetime after which berth
// treats it as near expiry: a leaf it can issue again is renewed on the
// next start (for its five-year leaves: in their last year), and a
// certificate it cannot issue (the agent's) stops `berth agent` with the
// command to run. Renewing early costs nothing; an expiry found only when
// TLS fails costs an outage.
const RenewAfter = 0.8

// Expiry says why c's validity period rules it out at now, or "" if it
// does not: "expired on …", "not valid before …" (a clock behind), or
// "expires on … (past 80% of its lifetime)".
func Expiry(c *x509.Certificate, now time.Time) string {
	day := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	switch {
	case !now.Before(c.NotAfter):
		return fmt.Sprintf("expired on %s", day(c.NotAfter))
	case now.Before(c.NotBefore):
		return fmt.Sprintf("not valid before %s (is this machine's clock right?)", day(c.NotBefore))
	}
	life := c.NotAfter.Sub(c.NotBefore)
	if now.After(c.NotBefore.Add(time.Duration(float64(life) * RenewAfter))) {
		return fmt.Sprintf("expires on %s (past %d%% of its lifetime)", day(c.NotAfter), int(RenewAfter*100))
	}
	return ""
}

// Uncovered returns the hosts (IPs or DNS names) c is not valid for.
func Uncovered(c *x509.Certificate, hosts []string) []string {
	var missing []string
	for _, h := range hosts {
		if h != "" && c.VerifyHostname(h) != nil {
			missing = append(missing, h)
		}
	}
	return missing
}
