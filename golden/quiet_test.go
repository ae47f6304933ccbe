package golden

import (
	"io"

	"github.com/containerd/log"
)

// containerd's loader logs at info level (for example "host will try
// HTTPS first"); the cross-checks compare what it returns, not its logs.
func init() { log.L.Logger.SetOutput(io.Discard) }
