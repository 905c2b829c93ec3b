package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// encoded returns a file ffmpeg makes with args (output last, appended here),
// encoding it only when no earlier test, of this run or an earlier one, made the
// same: encoding a long tone or the OBS clip took a second or more of a test that
// holds the media slot, and every media test of the suite waits on that slot.
// The file is named by what makes it (the ffmpeg binary, its size and time, and
// the arguments), so a new ffmpeg or other arguments make a new one. It lives in
// $TMPDIR/streamkit-media-cache and is only ever read: callers must not change it.
func encoded(t TB, ffmpeg, name string, args []string) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "streamkit-media-cache")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testenv: media cache: %v", err)
	}
	id := ffmpeg
	if real, err := filepath.EvalSymlinks(ffmpeg); err == nil {
		id = real
	}
	if st, err := os.Stat(id); err == nil {
		id = fmt.Sprintf("%s %d %d", id, st.Size(), st.ModTime().UnixNano())
	}
	sum := sha256.Sum256([]byte(id + "\x00" + strings.Join(args, "\x00")))
	ext := filepath.Ext(name)
	out := filepath.Join(dir, strings.TrimSuffix(name, ext)+"-"+hex.EncodeToString(sum[:8])+ext)
	if _, err := os.Stat(out); err == nil {
		return out
	}
	// Encode under a name of its own and rename: a test binary running beside
	// this one may want the same file, and must never read half of it.
	tmp, err := os.CreateTemp(dir, ".encoding-*"+ext)
	if err != nil {
		t.Fatalf("testenv: media cache: %v", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	_ = os.Chmod(tmp.Name(), 0o644) // CreateTemp's 0600 would keep other users' runs from reading it
	cmd := exec.Command(ffmpeg, append(append([]string{"-y"}, args...), tmp.Name())...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: ffmpeg %s: %v\n%s", name, err, b)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		t.Fatalf("testenv: media cache: %v", err)
	}
	return out
}
