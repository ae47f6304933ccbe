package convert

import (
	"os"
	"testing"
)

func TestV3Try(t *testing.T) {
	data, _ := os.ReadFile(os.Getenv("V3IN"))
	out, warns, err := ToVersion3("in.toml", data)
	t.Logf("err=%v", err)
	for _, w := range warns {
		t.Log(w)
	}
	t.Logf("\n%s", out)
}
