package benchkit

import (
	"errors"
	"strings"
	"testing"
)

func TestCleanupsRunNewestFirstAndJoinErrors(t *testing.T) {
	var c Cleanups
	var order []string
	c.Add("first", func() error { order = append(order, "first"); return errors.New("boom") })
	c.Add("second", func() error { order = append(order, "second"); return nil })
	c.Add("third", func() error { order = append(order, "third"); return errors.New("bang") })
	err := c.Run()
	if got := strings.Join(order, ","); got != "third,second,first" {
		t.Errorf("order %s, want third,second,first", got)
	}
	if err == nil || err.Error() != "third: bang\nfirst: boom" {
		t.Errorf("error %q, want both, newest first, named", err)
	}
	if err := c.Run(); err != nil || len(order) != 3 {
		t.Errorf("a second Run ran again (%v, %d steps)", err, len(order))
	}
}
