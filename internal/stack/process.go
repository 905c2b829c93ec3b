package stack

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Process is a stack component running as a child: its output is kept (for the
// logs of a failed test or a failed start), and it is killed with its children
// when the Stack closes.
type Process struct {
	Name string
	args []string
	env  []string

	mu  sync.Mutex
	cmd *exec.Cmd
	out *Buffer
}

// Start runs bin with args; env entries are added to this process's environment
// with the stack cache on PATH (ingress and egress re-execute themselves by name).
func (s *Stack) Start(name, bin string, args []string, env ...string) (*Process, error) {
	p := &Process{Name: name, args: append([]string{bin}, args...), out: &Buffer{}}
	p.env = append(os.Environ(), "PATH="+Bin()+string(os.PathListSeparator)+os.Getenv("PATH"))
	p.env = append(p.env, env...)
	if err := p.Start(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	s.onClose(p.Stop)
	return p, nil
}

// Start (re)starts the process with the same arguments.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.out, p.out
	// Own process group, so children (ingress/egress handlers) die with it; and
	// killed if we die, so a crashed test or dashboard leaves nothing running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("stack: start %s: %w", p.Name, err)
	}
	p.cmd = cmd
	go func() { _ = cmd.Wait() }()
	return nil
}

// Stop kills the process group and waits briefly for it to go.
func (p *Process) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	for i := 0; i < 100 && syscall.Kill(p.cmd.Process.Pid, 0) == nil; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	p.cmd = nil
}

// Signal sends sig to the process group (e.g. SIGSTOP to freeze a server).
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return fmt.Errorf("stack: %s is not running", p.Name)
	}
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Pid is the running process's ID (taskset execs the binary, so the server's
// own), 0 when it is not running.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Output returns everything the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// Tail returns the last n bytes of the output.
func (p *Process) Tail(n int) string { return p.out.Tail(n) }

// Buffer is a bytes.Buffer safe for concurrent writers and readers: a process's
// output, a server's log.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Tail returns the last n bytes written.
func (l *Buffer) Tail(n int) string {
	s := l.String()
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}
