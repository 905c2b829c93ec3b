package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser is a headless Debian Chromium driven by chromedp, with the page's console
// kept so a failing test can show it.
type Browser struct {
	Ctx     context.Context
	mu      sync.Mutex
	console []string
}

// NewBrowser starts Chromium for t (inside the private network namespace: a browser
// cannot be confined to loopback) and closes it when the test ends. On failure the
// test's screenshot and console log are saved under Artifacts().
func NewBrowser(t TB) *Browser {
	t.Helper()
	RequireNetNS(t)
	bin := Binary(t, "chromium", "chromium")
	// The profile is not a t.TempDir: Chromium's helper processes may still write
	// into it for a moment after the browser exits, and testing would then fail the
	// test over "directory not empty". It is removed after the browser, retrying.
	profile, err := os.MkdirTemp("", "streamkit-chromium-")
	if err != nil {
		t.Fatalf("testenv: chromium profile: %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.UserDataDir(profile),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		// Without these Chromium calls home at start, which our closed network refuses.
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	b := &Browser{Ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventConsoleAPICalled); ok {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			}
			b.mu.Lock()
			b.console = append(b.console, string(e.Type)+": "+strings.Join(parts, " "))
			b.mu.Unlock()
		}
	})
	closeBrowser := func() {
		cancel()
		cancelAlloc()
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := chromedp.Run(ctx); err != nil {
		closeBrowser()
		t.Fatalf("testenv: start chromium: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b.SaveArtifacts(t, "failure")
		}
		closeBrowser()
	})
	return b
}

// Artifacts is where screenshots and console logs go (STREAMKIT_ARTIFACTS).
func Artifacts() string {
	if d := os.Getenv("STREAMKIT_ARTIFACTS"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "streamkit-artifacts")
}

// Screenshot writes a full-page PNG to path (chromedp encodes JPEG below quality 100).
func (b *Browser) Screenshot(path string) error {
	var png []byte
	ctx, cancel := context.WithTimeout(b.Ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

// SaveArtifacts stores a screenshot and the console log named after the test.
func (b *Browser) SaveArtifacts(t TB, label string) {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(fmt.Sprintf("%T-%s", t, label))
	if n, ok := t.(interface{ Name() string }); ok {
		name = strings.NewReplacer("/", "_", " ", "_").Replace(n.Name() + "-" + label)
	}
	dir := Artifacts()
	if err := b.Screenshot(filepath.Join(dir, name+".png")); err != nil {
		t.Logf("testenv: screenshot: %v", err)
	}
	b.mu.Lock()
	log := strings.Join(b.console, "\n")
	b.mu.Unlock()
	_ = os.WriteFile(filepath.Join(dir, name+"-console.log"), []byte(log), 0o644)
	t.Logf("testenv: browser artifacts in %s/%s.*", dir, name)
}
