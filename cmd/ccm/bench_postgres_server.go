package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgInstall is where Debian's postgresql package puts the server of each
// major version: /usr/lib/postgresql/<major>/bin.
const pgInstall = "/usr/lib/postgresql"

// errNoPostgres is the error of a machine without PostgreSQL's server.
var errNoPostgres = errors.New("PostgreSQL's server was not found (no " + pgInstall +
	"/*/bin/postgres, and no postgres and initdb on PATH): install Debian's postgresql package (apt-get install postgresql)")

// pgServer is a throwaway PostgreSQL cluster for the postgres scenario:
// initdb into a temporary directory, the server on 127.0.0.1 on a free
// port with its unix socket in that directory, and everything removed by
// stop.
type pgServer struct {
	dir     string // temporary directory: data/, the socket, postgres.log
	bin     string
	port    int
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	cred    *syscall.Credential
}

// findPostgres returns the directory of the newest PostgreSQL server
// installed: Debian's /usr/lib/postgresql/<major>/bin first, then the
// directory of postgres and initdb on PATH.
func findPostgres() (string, error) {
	dirs, _ := filepath.Glob(filepath.Join(pgInstall, "*", "bin"))
	if dir := newestPostgres(dirs, func(p string) bool { return executable(p) }); dir != "" {
		return dir, nil
	}
	for _, name := range []string{"postgres", "initdb"} {
		p, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if executable(filepath.Join(dir, "postgres")) && executable(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	return "", errNoPostgres
}

// newestPostgres returns, of dirs of the form .../<major>/bin, the one of
// the highest major version holding both postgres and initdb, or "".
func newestPostgres(dirs []string, exists func(string) bool) string {
	type cand struct {
		dir   string
		major float64
	}
	var cs []cand
	for _, d := range dirs {
		major, err := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		if err != nil || !exists(filepath.Join(d, "postgres")) || !exists(filepath.Join(d, "initdb")) {
			continue
		}
		cs = append(cs, cand{d, major})
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].major > cs[j].major })
	if len(cs) == 0 {
		return ""
	}
	return cs[0].dir
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// startPostgres initialises a cluster in a temporary directory and starts
// its server with the default configuration (fsync on, synchronous
// commits, shared_buffers of initdb's choosing). PostgreSQL refuses to run
// as root: as root, the server runs as the postgres user the package
// creates. The caller must call stop, which also removes the directory.
func startPostgres(ctx context.Context) (*pgServer, error) {
	bin, err := findPostgres()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ccm-bench-pg-")
	if err != nil {
		return nil, err
	}
	s := &pgServer{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("PostgreSQL does not run as root and there is no postgres user to run it as (Debian's postgresql package creates it: apt-get install postgresql): %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, int(uid), int(gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	// initdb's --no-sync only skips the flush of the files it writes
	// once; the server it sets up flushes its commits as usual.
	initdb := s.command(ctx, "initdb", "-D", s.data(), "-U", "ccm", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if s.port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	// Not CommandContext: stop ends the server by a fast shutdown.
	s.cmd = s.command(context.Background(), "postgres", "-D", s.data(), "-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-k", dir)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr.Setpgid = true
	s.cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s.exited = make(chan struct{})
	go func() { s.waitErr = s.cmd.Wait(); close(s.exited) }()
	if err := s.ready(ctx); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *pgServer) data() string { return filepath.Join(s.dir, "data") }

func (s *pgServer) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd
}

// ready waits until the server accepts a connection.
func (s *pgServer) ready(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := s.connect(ctx)
		if err == nil {
			return c.Close(ctx)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited before accepting connections (%v):\n%s", s.waitErr, s.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within a minute: %v\n%s", err, s.logTail())
		}
	}
}

// connect opens a connection over TCP on the loopback port.
func (s *pgServer) connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.Connect(ctx, fmt.Sprintf("host=127.0.0.1 port=%d user=ccm dbname=postgres sslmode=disable", s.port))
}

func (s *pgServer) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stop shuts the server down (fast shutdown, then a kill after 30 s) and
// removes the cluster's directory.
func (s *pgServer) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-s.exited:
			case <-time.After(30 * time.Second):
				_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
				<-s.exited
			}
		}
	}
	os.RemoveAll(s.dir)
}

// memory is the proportional set size (shared pages divided among the
// processes that map them) and the resident set size summed over the
// server's processes: the postmaster and its children.
func (s *pgServer) memory() (pss, rss uint64, err error) {
	pids := append([]int{s.cmd.Process.Pid}, childPids(s.cmd.Process.Pid)...)
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && pid != s.cmd.Process.Pid {
				continue // a child that ended meanwhile
			}
			return 0, 0, err
		}
		p, r := smapsRollup(b)
		pss, rss = pss+p, rss+r
	}
	return pss, rss, nil
}

// childPids lists the processes whose parent is pid.
func childPids(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if ppid, ok := statParent(b); ok && ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// statParent reads the parent's pid from /proc/<pid>/stat: the second
// field after the command's name, which is in parentheses and may hold
// spaces and parentheses itself.
func statParent(stat []byte) (int, bool) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// smapsRollup reads the Pss and Rss lines (in kB) of
// /proc/<pid>/smaps_rollup, in bytes.
func smapsRollup(b []byte) (pss, rss uint64) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "Pss:":
			pss = v * 1024
		case "Rss:":
			rss = v * 1024
		}
	}
	return pss, rss
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
