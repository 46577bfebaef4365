package export

import (
	"fmt"
	"io"

	"github.com/mhcc-dev/mhcc/internal/atomicfile"
)

// WriteFile writes data to path atomically: a failure leaves no file behind
// and never truncates an existing one.
func WriteFile(path string, data []byte) error {
	err := atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("export: writing %s: %w", path, err)
	}
	return nil
}
