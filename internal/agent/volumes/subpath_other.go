//go:build !linux

package volumes

import (
	"errors"
	"os"
)

var errNoSubPath = errors.New("subPath needs Linux")

func openDirPinned(string) (int, error)          { return -1, errNoSubPath }
func closeFd(int)                                {}
func openBeneath(int, string) (int, error)       { return -1, errNoSubPath }
func fdIsDir(int) (bool, error)                  { return false, errNoSubPath }
func safeMakeDir(int, string, os.FileMode) error { return errNoSubPath }
