package benchkit

import (
	"errors"
	"fmt"
)

// Cleanups is a stack of things to undo, run last-in first-out. The zero
// value is ready to use.
type Cleanups struct {
	steps []cleanupStep
}

type cleanupStep struct {
	what string
	fn   func() error
}

// Add pushes fn; what names it in Run's errors ("stopping the registry").
func (c *Cleanups) Add(what string, fn func() error) {
	c.steps = append(c.steps, cleanupStep{what, fn})
}

// Run undoes everything, newest first, even after errors, and joins the
// errors.
func (c *Cleanups) Run() error {
	var errs []error
	for i := len(c.steps) - 1; i >= 0; i-- {
		s := c.steps[i]
		if err := s.fn(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.what, err))
		}
	}
	c.steps = nil
	return errors.Join(errs...)
}
