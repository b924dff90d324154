// Command gen writes deploy/nats/node.conf: node.conf.tmpl rendered for
// production (natsconf.Production).
package main

import (
	"log"
	"os"

	natsconf "github.com/ccm-ledger/ccm-ledger/deploy/nats"
)

func main() {
	b, err := natsconf.Render(natsconf.Production())
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("node.conf", b, 0o644); err != nil {
		log.Fatal(err)
	}
}
