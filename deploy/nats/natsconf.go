// Package natsconf is the deployment's nats-server configuration
// (deploy/nats) as the ccm binary carries it: the files of this directory,
// embedded, and node.conf's template, which places a node's listeners,
// store and routes. Production uses the files as they are (node.conf is the
// template rendered for one node per host); `ccm cluster trial` and the
// cluster tests copy the same files and render node.conf for three nodes
// on loopback, so that what they run is what is deployed.
package natsconf

//go:generate go run ./gen

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

//go:embed *.conf node.conf.tmpl
var files embed.FS

// Files returns the embedded configuration files.
func Files() fs.FS { return files }

// Nodes is the number of nodes of the deployment: nats-1.conf ...
const Nodes = 3

// NodeFile returns the configuration file of node i (from 0).
func NodeFile(i int) string { return fmt.Sprintf("nats-%d.conf", i+1) }

// ServerName returns the server name of node i, as its file sets it.
func ServerName(i int) string { return fmt.Sprintf("ccm-nats-%d", i+1) }

// Node is where one node listens and keeps its store, and the routes it
// dials: what node.conf says.
type Node struct {
	Host        string // listen address of the client, monitoring and route listeners
	ClientPort  int
	HTTPPort    int // 0: no monitoring listener
	ClusterPort int
	StoreDir    string
	Routes      []string // one per node, nats-route://HOST:PORT
	// RouteTLS switches on mutual TLS between the nodes (cluster-tls.conf).
	RouteTLS bool
}

// Production is node.conf as deployed: each node on its own host, with the
// standard ports, /var/lib/nats, and routes to ccm-nats-1 ... by name.
func Production() Node {
	n := Node{Host: "0.0.0.0", ClientPort: 4222, HTTPPort: 8222, ClusterPort: 6222, StoreDir: "/var/lib/nats"}
	for i := range Nodes {
		n.Routes = append(n.Routes, fmt.Sprintf("nats-route://%s:6222", ServerName(i)))
	}
	return n
}

var tmpl = template.Must(template.ParseFS(files, "node.conf.tmpl"))

// Render returns node.conf for n.
func Render(n Node) ([]byte, error) {
	if strings.ContainsAny(n.StoreDir, "\"\\\n") {
		return nil, fmt.Errorf("node.conf: store directory %q: a quote, backslash or newline cannot be written in the configuration", n.StoreDir)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, n); err != nil {
		return nil, fmt.Errorf("node.conf: %w", err)
	}
	return b.Bytes(), nil
}

// clientTLS is the commented-out include of the clients' TLS in
// cluster.conf.
var clientTLS = regexp.MustCompile(`(?m)^#\s*(include\s+tls\.conf)\s*$`)

// WriteNodeDir writes into dir the configuration of one node: every .conf
// file of src (Files(), or a directory such as deploy/nats) as it is, but
// node.conf rendered for n; tls switches on the clients' TLS as an
// operator does, by uncommenting its include in cluster.conf. The node is
// then started with dir/NodeFile(i).
func WriteNodeDir(dir string, src fs.FS, n Node, tls bool) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	confs, err := fs.Glob(src, "*.conf")
	if err != nil {
		return err
	}
	for _, name := range confs {
		b, err := fs.ReadFile(src, name)
		if err != nil {
			return err
		}
		switch name {
		case "node.conf":
			if b, err = Render(n); err != nil {
				return err
			}
		case "cluster.conf":
			if tls {
				if !clientTLS.Match(b) {
					return fmt.Errorf("cluster.conf: no commented-out `include tls.conf` to switch TLS on")
				}
				b = clientTLS.ReplaceAll(b, []byte("$1"))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
