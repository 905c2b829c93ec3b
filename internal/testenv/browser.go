package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
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

// BrowserOption shapes the Chromium NewBrowser starts.
type BrowserOption func(t TB, profile string) []chromedp.ExecAllocatorOption

// TrustCA makes the browser trust the CA certificate in file, as a person
// imports one: into the NSS database of its own home (Chromium on Linux
// honours roots a user added there). Chromium checks a TURN/TLS server's
// certificate as it checks a web site's: an unknown CA fails the
// connection (seen: "could not establish pc connection"; with
// --ignore-certificate-errors it connects), so the test trusts its CA
// instead of turning the checks off. Needs certutil (libnss3-tools).
func TrustCA(file string) BrowserOption {
	return func(t TB, profile string) []chromedp.ExecAllocatorOption {
		t.Helper()
		certutil := Tool(t, "certutil", "apt-get install libnss3-tools (scripts/stack install chromium)")
		home := filepath.Join(profile, "home")
		db := "sql:" + filepath.Join(home, ".pki", "nssdb")
		if err := os.MkdirAll(filepath.Join(home, ".pki", "nssdb"), 0o700); err != nil {
			t.Fatalf("testenv: nss database: %v", err)
		}
		for _, args := range [][]string{{"-N", "-d", db, "--empty-password"}, {"-A", "-d", db, "-n", "streamkit test CA", "-t", "C,,", "-i", file}} {
			if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
				t.Fatalf("testenv: certutil %v: %v\n%s", args, err, out)
			}
		}
		return []chromedp.ExecAllocatorOption{chromedp.Env("HOME=" + home)}
	}
}

// NewBrowser starts Chromium for t (inside the private network namespace: a browser
// cannot be confined to loopback) and closes it when the test ends. On failure the
// test's screenshot and console log are saved under Artifacts().
func NewBrowser(t TB, with ...BrowserOption) *Browser {
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
	for _, o := range with {
		opts = append(opts, o(t, profile)...)
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
