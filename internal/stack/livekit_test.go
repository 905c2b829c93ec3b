package stack

import (
	"strings"
	"testing"
)

// Each release gets the metrics setting it takes: v1.6.1 only the old key,
// which it requires (it refuses the new one at start); the pin the new one.
func TestPrometheusConfigPerRelease(t *testing.T) {
	for v, want := range map[string]string{"v1.6.1": "prometheus_port: 9\n", "": "prometheus:\n  port: 9\n", "v1.11.0": "prometheus:\n  port: 9\n"} {
		if got := PrometheusYAML(v, 9); got != want {
			t.Errorf("PrometheusYAML(%q) = %q, want %q", v, got, want)
		}
	}
}

// A version names a binary in the stack cache: only a release such as v1.6.1
// is taken, so no path can be made of it.
func TestLiveKitVersionIsARelease(t *testing.T) {
	for _, v := range []string{"../../bin/sh", "latest", "v1.6.1/../../x"} {
		if _, err := LiveKitBinary(v); err == nil || !strings.Contains(err.Error(), "not a semantic version") {
			t.Errorf("LiveKitBinary(%q) = %v, want a refusal", v, err)
		}
	}
}
