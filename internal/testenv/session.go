package testenv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Session lets a program (the dashboard's -dev mode) start the stack with the same
// code the tests use. Close tears everything down, like the end of a test.
type Session struct {
	log      io.Writer
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

// NewSession returns a Session that writes component logs to log.
func NewSession(log io.Writer) *Session { return &Session{log: log} }

type abort struct{ msg string }

// Do runs fn; a Fatalf or Skipf inside it ends fn and becomes the returned error.
func (s *Session) Do(fn func(TB)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			a, ok := r.(abort)
			if !ok {
				panic(r)
			}
			err = errors.New(a.msg)
		}
	}()
	fn(s)
	return nil
}

// Close runs the cleanups in reverse order: stops processes, removes temp dirs.
func (s *Session) Close() {
	s.mu.Lock()
	c := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

func (s *Session) Helper() {}
func (s *Session) Fatalf(format string, args ...any) {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
	panic(abort{fmt.Sprintf(format, args...)})
}
func (s *Session) Skipf(format string, args ...any) { panic(abort{fmt.Sprintf(format, args...)}) }
func (s *Session) Logf(format string, args ...any) {
	if s.log != nil {
		fmt.Fprintf(s.log, format+"\n", args...)
	}
}
func (s *Session) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}
func (s *Session) TempDir() string {
	dir, err := os.MkdirTemp("", "streamkit-")
	if err != nil {
		s.Fatalf("testenv: temp dir: %v", err)
	}
	s.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
func (s *Session) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}
