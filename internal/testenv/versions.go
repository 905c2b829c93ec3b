package testenv

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// StackVersion reads a component's version (e.g. "LIVEKIT_VERSION") from
// scripts/versions, the file scripts/stack and scripts/podman source, so that the
// version is written once for the scripts and the tests alike.
func StackVersion(name string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, "scripts", "versions")
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("stack versions: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), name+"="); ok && v != "" {
			return v, nil
		}
	}
	return "", fmt.Errorf("stack versions: %s has no %s", path, name)
}

// moduleRoot is the nearest directory above the working directory (a test's
// package directory) that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("stack versions: no go.mod above the working directory")
		}
		dir = parent
	}
}
