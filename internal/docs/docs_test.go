// Package docs holds the tests that keep the project's documents honest: the
// README's Go blocks compile, and every command docs/benchmarks.md gives exists.
package docs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// root is the repository's top, two folders up from this package.
const root = "../.."

// imports are the packages a README block may name, by the name it uses.
var imports = map[string]string{
	"context": "context", "errors": "errors", "fmt": "fmt", "http": "net/http", "time": "time", "log": "log",
	"spacemusic": "github.com/spacemusic/streamkit/spacemusic",
	"rooms":      "github.com/spacemusic/streamkit/spacemusic/rooms",
	"tokens":     "github.com/spacemusic/streamkit/spacemusic/tokens",
	"ingress":    "github.com/spacemusic/streamkit/spacemusic/ingress",
	"egress":     "github.com/spacemusic/streamkit/spacemusic/egress",
	"recordings": "github.com/spacemusic/streamkit/spacemusic/recordings",
	"events":     "github.com/spacemusic/streamkit/spacemusic/events",
	"shows":      "github.com/spacemusic/streamkit/spacemusic/shows",
	"storage":    "github.com/spacemusic/streamkit/spacemusic/storage",
}

// goBlocks are the bodies of the ```go fences of a Markdown text, in order.
func goBlocks(md string) []string {
	var out []string
	for _, part := range strings.Split(md, "```go\n")[1:] {
		body, _, ok := strings.Cut(part, "```")
		if ok {
			out = append(out, body)
		}
	}
	return out
}

// program is the README's Go blocks as one function, in order (a later block
// uses what an earlier one made), with ctx in scope and the imports they name.
func program(blocks []string) string {
	body := strings.Join(blocks, "\n")
	var names []string
	for name := range imports {
		if regexp.MustCompile(`\b` + name + `\.`).MatchString(body) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("package main\n\nimport (\n")
	if !slices.Contains(names, "context") {
		b.WriteString("\t\"context\"\n")
	}
	for _, n := range names {
		fmt.Fprintf(&b, "\t%q\n", imports[n])
	}
	b.WriteString(")\n\nfunc main() { _ = readme(context.Background()) }\n\nfunc readme(ctx context.Context) error {\n")
	b.WriteString(body)
	b.WriteString("\treturn nil\n}\n")
	return b.String()
}

// TestREADMEGoBlocksCompile: the code a user copies from the README builds
// and vets against today's API.
func TestREADMEGoBlocksCompile(t *testing.T) {
	md, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	blocks := goBlocks(string(md))
	require.NotEmpty(t, blocks, "the README has Go blocks")
	// Inside the module, so that its packages resolve; "_" keeps ./... away from it.
	dir, err := os.MkdirTemp(".", "_readme")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	src := program(blocks)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644))
	out, err := exec.Command("go", "vet", "./"+dir).CombinedOutput()
	require.NoError(t, err, "the README's Go blocks do not build:\n%s\n--- as compiled:\n%s", out, numbered(src))
}

func numbered(src string) string {
	var b strings.Builder
	for i, l := range strings.Split(src, "\n") {
		fmt.Fprintf(&b, "%4d %s\n", i+1, l)
	}
	return b.String()
}

// A broken block is caught: the check is not a formality.
func TestABrokenREADMEBlockFails(t *testing.T) {
	dir, err := os.MkdirTemp(".", "_readme")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	src := program([]string{"sm, err := spacemusic.New(spacemusic.ConfigFromEnv())\nsm.Rooms.Open(ctx, \"x\")\nreturn err\n"})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644))
	out, err := exec.Command("go", "vet", "./"+dir).CombinedOutput()
	require.Error(t, err, "a call to a method that does not exist must fail:\n%s", src)
	assert.Contains(t, string(out), "Open")
}

// command is one `go test` command of docs/benchmarks.md.
type command struct {
	line        string
	pkgs        []string
	bench, run  string
	scriptsUsed []string
}

// commands finds every backticked command in md that runs go test or a script.
func commands(md string) []command {
	var out []command
	for _, m := range regexp.MustCompile("`([^`]*(?:go test|scripts/)[^`]*)`").FindAllStringSubmatch(md, -1) {
		c := command{line: m[1]}
		f := strings.Fields(m[1])
		for i := 0; i < len(f); i++ {
			arg := strings.Trim(f[i], "'\"")
			switch {
			case strings.HasPrefix(arg, "scripts/"):
				c.scriptsUsed = append(c.scriptsUsed, arg)
			case arg == "-bench" && i+1 < len(f):
				c.bench = strings.Trim(f[i+1], "'\"")
				i++
			case arg == "-run" && i+1 < len(f):
				c.run = strings.Trim(f[i+1], "'\"")
				i++
			case strings.HasPrefix(arg, "./"):
				c.pkgs = append(c.pkgs, arg)
			}
		}
		out = append(out, c)
	}
	return out
}

// funcs are the names of the test files' top-level functions with prefix in pkg.
func funcs(t *testing.T, pkg, prefix string) []string {
	files, err := filepath.Glob(filepath.Join(root, pkg, "*_test.go"))
	require.NoError(t, err)
	var out []string
	re := regexp.MustCompile(`(?m)^func (` + prefix + `\w*)\(`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// matches reports whether pattern, as go test reads its first element, picks
// one of names.
func matches(t *testing.T, pattern string, names []string) bool {
	first, _, _ := strings.Cut(pattern, "/")
	re, err := regexp.Compile(first)
	require.NoError(t, err, "pattern %q", pattern)
	return slices.ContainsFunc(names, re.MatchString)
}

// TestBenchmarkCommandsExist: every command docs/benchmarks.md gives names
// scripts, packages, benchmarks and tests that exist, so that a figure can be
// measured again.
func TestBenchmarkCommandsExist(t *testing.T) {
	md, err := os.ReadFile(filepath.Join(root, "docs", "benchmarks.md"))
	require.NoError(t, err)
	cmds := commands(string(md))
	require.NotEmpty(t, cmds)
	for _, c := range cmds {
		for _, s := range c.scriptsUsed {
			_, err := os.Stat(filepath.Join(root, s))
			assert.NoError(t, err, "%s: no script %s", c.line, s)
		}
		for _, pkg := range c.pkgs {
			if strings.HasSuffix(pkg, "/...") {
				continue
			}
			if _, err := os.Stat(filepath.Join(root, pkg)); !assert.NoError(t, err, "%s: no package %s", c.line, pkg) {
				continue
			}
			if c.bench != "" && c.bench != "." {
				assert.True(t, matches(t, c.bench, funcs(t, pkg, "Benchmark")), "%s: no benchmark in %s matches %q", c.line, pkg, c.bench)
			}
			if c.run != "" && c.run != "^$" && c.run != "." {
				assert.True(t, matches(t, c.run, funcs(t, pkg, "Test")), "%s: no test in %s matches %q", c.line, pkg, c.run)
			}
		}
	}
}

// A command naming a benchmark that is gone is caught.
func TestAMissingBenchmarkIsCaught(t *testing.T) {
	c := commands("`go test -run '^$' -bench NoSuchThing ./spacemusic/tokens/`")
	require.Len(t, c, 1)
	assert.Equal(t, []string{"./spacemusic/tokens/"}, c[0].pkgs)
	assert.False(t, matches(t, c[0].bench, funcs(t, "./spacemusic/tokens/", "Benchmark")))
	assert.True(t, matches(t, "MintRatio", funcs(t, "./spacemusic/tokens/", "Benchmark")))
}
