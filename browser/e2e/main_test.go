package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ipfs-accelerate/accel/browser"
	"github.com/ipfs-accelerate/accel/internal/daemontest"
)

const models = "../../../shared/models"

// accel is cmd/accel, built by TestMain.
var accel string

func TestMain(m *testing.M) {
	var remove func()
	accel, remove = daemontest.BuildAccel("../../cmd/accel")
	code := m.Run()
	remove()
	os.Exit(code)
}

func needModels(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(filepath.Join(models, "stories260K.bin")); err != nil {
		tb.Skipf("test models not present: %v", err)
	}
}

// startDaemon runs `accel daemon` on repo until the test ends, and waits
// until it is ready.
func startDaemon(tb testing.TB, repo string) *daemontest.Accel {
	tb.Helper()
	return daemontest.StartAccel(tb, accel, repo)
}

func newRepo(tb testing.TB) string {
	tb.Helper()
	return daemontest.NewRepo(tb, accel)
}

// chromium returns Debian's Chromium, skipping the test when it is not
// installed unless ACCEL_REQUIRE_CHROMIUM=1 (make test sets it).
func chromium(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("ACCEL_REQUIRE_CHROMIUM") == "1" {
			tb.Fatal("chromium not found: apt-get install chromium (make tools does)")
		}
		tb.Skip("chromium not found: apt-get install chromium")
	}
	return path
}

var (
	sdkOnce sync.Once
	sdkDir  string
	sdkErr  error
)

// buildSDK assembles the browser SDK once per test run, beside the built
// binary, with the test pages of testdata/ added, and returns its
// directory.
func buildSDK(tb testing.TB) string {
	tb.Helper()
	sdkOnce.Do(func() {
		dir := filepath.Join(filepath.Dir(accel), "sdk")
		out, err := exec.Command("../../scripts/build-sdk.sh", dir).CombinedOutput()
		if err != nil {
			sdkErr = fmt.Errorf("building the SDK: %v\n%s", err, out)
			return
		}
		tb.Logf("%s", strings.TrimSpace(string(out)))
		if sdkErr = os.CopyFS(dir, os.DirFS("testdata")); sdkErr == nil {
			sdkDir = dir
		}
	})
	if sdkErr != nil {
		tb.Fatal(sdkErr)
	}
	return sdkDir
}

// sdkDaemon starts a daemon that serves the freshly built SDK, with the
// test pages, and holds stories260K, and returns it with the model's root
// CID.
func sdkDaemon(t *testing.T) (*daemontest.Accel, string) {
	t.Helper()
	needModels(t)
	t.Setenv(browser.EnvSDKDir, buildSDK(t))
	d := startDaemon(t, newRepo(t))
	return d, daemontest.AddStories(t, accel, d.Dir, models)
}

// newBrowser starts headless Chromium for the test, with any extra flags,
// for at most 3 minutes.
func newBrowser(tb testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	tb.Helper()
	return newBrowserFor(tb, 3*time.Minute, extra...)
}

// newBrowserFor starts headless Chromium for the test, with any extra
// flags, for at most timeout.
func newBrowserFor(tb testing.TB, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	tb.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(tb)),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(tb.TempDir()),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(func() { cancel(); cancelAlloc() })
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	tb.Cleanup(cancelTimeout)
	return ctx
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
