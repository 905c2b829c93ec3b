// Package server knows which livekit-server release brought the features
// streamkit uses, so that a service told the server's version (Config's
// ServerVersion, e.g. v1.6.1) refuses with errs.ErrUnsupported what
// that release would drop without a word, instead of a request that seems to
// work.
package server

import (
	"fmt"

	"golang.org/x/mod/semver"

	"github.com/spacemusic/streamkit/spacemusic/errs"
)

// Feature is something streamkit uses that not every release has.
type Feature struct {
	Name  string // as the hint says it
	Since string // the first livekit-server release with it
}

// Attributes are participant attributes (a token's "attributes" claim):
// v1.6.1 ignores the claim, so the participant, the room and the webhooks
// never see them. The project's own-participant proof rides on them.
var Attributes = Feature{Name: "participant attributes", Since: "v1.7.0"}

// Check is nil when livekit-server at version has f, and ErrUnsupported
// naming both releases otherwise. An empty version is the release streamkit
// pins (scripts/versions), which has every feature.
func Check(op, version string, f Feature) error {
	if version == "" || semver.Compare(version, f.Since) >= 0 {
		return nil
	}
	return errs.Unsupported(op, f.Name, version, f.Since)
}

// Valid checks a version given by configuration (e.g. LIVEKIT_SERVER_VERSION).
func Valid(version string) error {
	if version != "" && !semver.IsValid(version) {
		return fmt.Errorf("livekit-server version %q is not a release such as v1.6.1", version)
	}
	return nil
}
