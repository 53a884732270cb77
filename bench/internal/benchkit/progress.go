package benchkit

import (
	"fmt"
	"os"
	"time"
)

// Progress tells the person waiting what is happening, on stderr, so that
// stdout holds only the report.
func Progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
