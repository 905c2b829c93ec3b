package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// updateSupport rewrites docs/support.md's table from what the compatibility
// suite observed (also STREAMKIT_UPDATE_SUPPORT=1), instead of failing on a
// difference.
var updateSupport = flag.Bool("update-support", false, "rewrite docs/support.md from the compatibility suite's observations")

// The table sits between these marks in docs/support.md; the rest of the file
// is prose the suite leaves alone.
const supportBegin, supportEnd = "<!-- support:begin -->\n", "<!-- support:end -->"

const supportPath = "../../docs/support.md"

// checkSupportTable compares what each version did with docs/support.md's
// table, cell by cell, for the versions that ran (a -run filter may pick one).
func checkSupportTable(t *testing.T, versions []string, observed map[string]map[string]string) {
	t.Helper()
	doc, err := os.ReadFile(supportPath)
	if err != nil {
		t.Fatalf("the support table: %v", err)
	}
	text := string(doc)
	head, rest, ok := strings.Cut(text, supportBegin)
	_, tail, ok2 := strings.Cut(rest, supportEnd)
	if !ok || !ok2 {
		t.Fatalf("%s has no table between %q and %q", supportPath, supportBegin, supportEnd)
	}
	if *updateSupport || os.Getenv("STREAMKIT_UPDATE_SUPPORT") == "1" {
		if len(observed) != len(versions) || t.Failed() {
			t.Fatalf("the table is rewritten only from a full, green run of every version")
		}
		table := supportTable(versions, observed)
		if err := os.WriteFile(supportPath, []byte(head+supportBegin+table+supportEnd+tail), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s", filepath.Base(supportPath))
		return
	}
	want := parseSupportTable(rest)
	for _, v := range versions {
		for _, s := range compatStories {
			got, ran := observed[v][s.feature]
			if !ran {
				continue
			}
			if w := want[s.feature][v]; w != got {
				t.Errorf("%s on livekit-server %s: the suite saw %q, docs/support.md says %q (rerun with STREAMKIT_UPDATE_SUPPORT=1 once the change is meant)", s.feature, v, got, w)
			}
		}
	}
}

// supportTable is the markdown table: a row per story, a column per version.
func supportTable(versions []string, observed map[string]map[string]string) string {
	var b strings.Builder
	b.WriteString("| feature |")
	for _, v := range versions {
		fmt.Fprintf(&b, " %s |", v)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(versions)) + "\n")
	for _, s := range compatStories {
		fmt.Fprintf(&b, "| %s |", s.feature)
		for _, v := range versions {
			fmt.Fprintf(&b, " %s |", strings.ReplaceAll(observed[v][s.feature], "|", `\|`))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// parseSupportTable reads the table back: feature -> version -> cell.
func parseSupportTable(text string) map[string]map[string]string {
	out := map[string]map[string]string{}
	var versions []string
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") {
			continue
		}
		cells := strings.Split(strings.Trim(strings.ReplaceAll(line, `\|`, "\x00"), "|"), "|")
		for i := range cells {
			cells[i] = strings.ReplaceAll(strings.TrimSpace(cells[i]), "\x00", "|")
		}
		if versions == nil {
			versions = cells[1:]
			continue
		}
		out[cells[0]] = map[string]string{}
		for i, v := range versions {
			if i+1 < len(cells) {
				out[cells[0]][v] = cells[i+1]
			}
		}
	}
	return out
}
