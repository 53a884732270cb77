package benchkit

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// logTailBytes is how much of a child's log its errors quote.
const logTailBytes = 4000

// Child is a process the benchmark started in its own process group, its
// output going to a log file.
type Child struct {
	cmd *exec.Cmd
	log string

	exited  chan struct{} // closed once the process has been reaped
	waitErr error

	stopOnce sync.Once
	stopped  time.Duration
	stopErr  error
}

// EarlyExitError is Child.Stop's error when the process had exited before
// it was asked to stop; Err is how it exited.
type EarlyExitError struct{ Err error }

func (e *EarlyExitError) Error() string { return fmt.Sprintf("had already exited: %v", e.Err) }

func (e *EarlyExitError) Unwrap() error { return e.Err }

// StartChild runs name with args, stdout and stderr appended to the file
// log, in a process group of its own; the kernel sends it deathSig should
// the benchmark die without stopping it.
func StartChild(log string, deathSig syscall.Signal, name string, args ...string) (*Child, error) {
	logf, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	c := &Child{cmd: exec.Command(name, args...), log: log, exited: make(chan struct{})}
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = childAttrs(deathSig)
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// Pid is the child's process ID (and its process group's).
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Exited is closed once the child has exited and been reaped.
func (c *Child) Exited() <-chan struct{} { return c.exited }

// WaitErr is how the child exited; only meaningful once Exited is closed.
func (c *Child) WaitErr() error { return c.waitErr }

// Stop sends SIGTERM and waits for the exit, killing the whole process
// group after timeout. It returns how long the stop took and, if the child
// did not exit cleanly on SIGTERM, why (an *EarlyExitError when it had
// exited already). Safe to call more than once: later calls return the
// first call's results.
func (c *Child) Stop(timeout time.Duration) (time.Duration, error) {
	c.stopOnce.Do(func() {
		select {
		case <-c.exited:
			c.stopErr = &EarlyExitError{Err: c.waitErr}
			return
		default:
		}
		start := time.Now()
		if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			c.stopErr = err
		}
		select {
		case <-c.exited:
			c.stopped = time.Since(start)
			if c.waitErr != nil {
				c.stopErr = fmt.Errorf("exited with %v", c.waitErr)
			}
		case <-time.After(timeout):
			// Our own child's process group (Setpgid): nothing else is in it.
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.exited
			c.stopped = time.Since(start)
			c.stopErr = fmt.Errorf("still running %s after SIGTERM; killed", timeout)
		}
	})
	return c.stopped, c.stopErr
}

// LogTail is the end of the child's log, for error messages.
func (c *Child) LogTail() string {
	b, err := os.ReadFile(c.log)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(b) > logTailBytes {
		b = b[len(b)-logTailBytes:]
	}
	return string(bytes.TrimRight(b, "\n"))
}
