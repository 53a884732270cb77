// Command resolve looks names up with Go's own resolver, which reads
// /etc/resolv.conf and walks its search list under its ndots option as the
// C library does. TestDNS runs it inside pods: the busybox of the test
// images has an nslookup that ignores the search list and a static C
// library that cannot resolve.
//
//	resolve NAME...   prints "NAME ADDR..." per name; exit 1 if one fails
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	r := &net.Resolver{PreferGo: true}
	code := 0
	for _, name := range os.Args[1:] {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		addrs, err := r.LookupHost(ctx, name)
		cancel()
		if err != nil {
			fmt.Printf("%s error: %v\n", name, err)
			code = 1
			continue
		}
		fmt.Printf("%s %s\n", name, strings.Join(addrs, " "))
	}
	os.Exit(code)
}
