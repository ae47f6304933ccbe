package migrate

import (
	"os"
	"strings"
	"testing"
)

func TestHostsCheckCodesDocumented(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{WarnGeneratedHostsFile, WarnKeptHostsFile} {
		if !strings.Contains(string(readme), "| `"+code+"` |") {
			t.Errorf("README does not document warning code %s", code)
		}
	}
}
