package web

import (
	"net/http"
	"sync"

	"github.com/ccm-ledger/ccm-ledger/events"
)

// maxCached bounds the pages kept.
const maxCached = 256

// shown is a page built, before it is rendered.
type shown struct {
	name string
	page *page
}

// copy returns a page the renderer may fill in without touching the one
// kept.
func (p *page) copy() *page {
	c := *p
	return &c
}

// pageCache keeps the pages built since the live fold last moved. The
// log is append-only, so a view is final until the fold reads another
// message: then every page is built again. This spares the views the
// engine does not keep itself (a State's history, a diff).
type pageCache struct {
	mu    sync.Mutex
	seq   uint64
	max   int
	pages map[string]*shown
}

func newPageCache(max int) *pageCache {
	return &pageCache{max: max, pages: map[string]*shown{}}
}

// get returns the page of the request as of today at the fold's sequence
// seq, built by build unless it is kept; failures are not kept. A nil
// cache builds every time.
func (c *pageCache) get(r *http.Request, today events.Date, seq uint64, build func() (*shown, *pageError)) (*shown, *pageError) {
	if c == nil {
		return build()
	}
	// The page's own parameters and today (the default as-of date) make
	// the key.
	key := today.String() + " " + r.URL.Path + "?" + r.URL.Query().Encode()
	c.mu.Lock()
	if c.seq != seq {
		c.seq, c.pages = seq, map[string]*shown{}
	}
	sh, ok := c.pages[key]
	c.mu.Unlock()
	if ok {
		return sh, nil
	}
	sh, e := build()
	if e != nil {
		return nil, e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seq == seq {
		if len(c.pages) >= c.max {
			c.pages = map[string]*shown{}
		}
		c.pages[key] = sh
	}
	return sh, nil
}
