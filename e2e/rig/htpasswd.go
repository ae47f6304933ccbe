package rig

import (
	"fmt"
	"os"

	"golang.org/x/crypto/bcrypt"
)

// Credentials is a user name and password for HTTP basic auth.
type Credentials struct {
	Username string
	Password string
}

// writeHtpasswd writes an htpasswd file (bcrypt, the only hash distribution accepts).
func writeHtpasswd(path string, c Credentials) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(c.Password), bcrypt.MinCost)
	if err != nil {
		return fmt.Errorf("hashing password for %s: %w", c.Username, err)
	}
	line := c.Username + ":" + string(hash) + "\n"
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		return fmt.Errorf("writing htpasswd %s: %w", path, err)
	}
	return nil
}
