// Command gen writes deploy/nats/accounts.conf from the role table of
// package roles.
package main

import (
	"flag"
	"log"
	"os"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
)

func main() {
	out := flag.String("o", "accounts.conf", "file to write")
	flag.Parse()
	if err := os.WriteFile(*out, roles.AccountsConf(), 0o644); err != nil {
		log.Fatal(err)
	}
}
