package natstest

import (
	"net"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Proxy is a TCP relay on a loopback port between clients and one server,
// which a test can stall: while paused, bytes already read are held and
// none are passed on in either direction, as on a network path that stops
// delivering without closing the connection. Nothing is dropped: Resume
// passes on what was held, in order.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cond   *sync.Cond
	paused bool
	closed bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

// RunProxy relays connections made to the returned proxy's URL to the
// server at serverURL (nats://host:port). It is closed at cleanup.
func RunProxy(tb testing.TB, serverURL string) *Proxy {
	tb.Helper()
	u, err := url.Parse(serverURL)
	require.NoError(tb, err, "server URL %q", serverURL)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err, "proxy listener")
	p := &Proxy{ln: ln, target: u.Host}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

// URL is where clients connect to reach the server through the proxy.
func (p *Proxy) URL() string { return "nats://" + p.ln.Addr().String() }

// Pause stalls every connection through the proxy until Resume.
func (p *Proxy) Pause() {
	p.mu.Lock()
	p.paused = true
	p.mu.Unlock()
}

// Resume passes on what was held and lets traffic flow again.
func (p *Proxy) Resume() {
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
	p.cond.Broadcast()
}

// Close stops the proxy and closes every relayed connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	p.cond.Broadcast()
	_ = p.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = client.Close()
			_ = server.Close()
			return
		}
		p.conns = append(p.conns, client, server)
		p.wg.Add(2)
		p.mu.Unlock()
		go p.relay(server, client)
		go p.relay(client, server)
	}
}

// relay copies from src to dst, holding each chunk while the proxy is
// paused; when either side ends, both are closed.
func (p *Proxy) relay(dst, src net.Conn) {
	defer p.wg.Done()
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.open() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// open waits while the proxy is paused; it reports false once it is closed.
func (p *Proxy) open() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.paused && !p.closed {
		p.cond.Wait()
	}
	return !p.closed
}
