// tlsget is a tiny static HTTPS client for test pods (busybox wget does
// not verify certificates): it GETs each URL, verifying the server against
// the CA file and, with -servername, a name other than the URL's host,
// and prints the body.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	caFile := flag.String("ca", "/ca.crt", "CA bundle")
	serverName := flag.String("servername", "", "name to verify instead of the URL's host")
	flag.Parse()
	ca, err := os.ReadFile(*caFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: *serverName}}}
	for _, url := range flag.Args() {
		resp, err := client.Get(os.ExpandEnv(url))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %s\n", resp.StatusCode, body)
	}
}
