// Command walk says which of the project's functions one request runs: given
// two coverage profiles (count mode) of the same test, one that makes the
// request once and one that makes it twice, it prints each function whose
// entry ran more in the second, with how many times per request, and counts
// the functions and files. scripts/walk runs it for a mute.
//
//	walk ONCE.cov TWICE.cov REPO
package main

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

type blk struct{ sl, sc, el, ec int }

// read is a profile's counts by file and block.
func read(p string) map[string]map[blk]int {
	out := map[string]map[blk]int{}
	f, err := os.Open(p)
	if err != nil {
		fmt.Fprintln(os.Stderr, "walk:", err)
		os.Exit(1)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "mode:") {
			continue
		}
		i := strings.LastIndex(l, ":")
		file, rest := l[:i], l[i+1:]
		var b blk
		var n, c int
		fmt.Sscanf(rest, "%d.%d,%d.%d %d %d", &b.sl, &b.sc, &b.el, &b.ec, &n, &c)
		if out[file] == nil {
			out[file] = map[blk]int{}
		}
		out[file][b] += c
	}
	return out
}

type fn struct {
	name       string
	start, end token.Position
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: walk ONCE.cov TWICE.cov REPO")
		os.Exit(2)
	}
	a, b := read(os.Args[1]), read(os.Args[2])
	root, mod := os.Args[3], "github.com/spacemusic/streamkit/"
	type hit struct {
		file, name string
		calls      int
	}
	var hits []hit
	for file, blocks := range b {
		path := filepath.Join(root, strings.TrimPrefix(file, mod))
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			continue
		}
		fns := funcsOf(fset, f)
		// entry block of each function: the earliest block inside it and not inside a nested func
		inner := func(bk blk) int {
			best := -1
			for i, g := range fns {
				if (bk.sl > g.start.Line || (bk.sl == g.start.Line && bk.sc >= g.start.Column)) && (bk.sl < g.end.Line || (bk.sl == g.end.Line && bk.sc <= g.end.Column)) {
					if best < 0 || (g.start.Offset > fns[best].start.Offset) {
						best = i
					}
				}
			}
			return best
		}
		entry := map[int]blk{}
		for bk := range blocks {
			i := inner(bk)
			if i < 0 {
				continue
			}
			e, ok := entry[i]
			if !ok || bk.sl < e.sl || (bk.sl == e.sl && bk.sc < e.sc) {
				entry[i] = bk
			}
		}
		for i, bk := range entry {
			d := blocks[bk] - a[file][bk]
			if d > 0 {
				hits = append(hits, hit{strings.TrimPrefix(file, mod), fns[i].name, d})
			}
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].file != hits[j].file {
			return hits[i].file < hits[j].file
		}
		return hits[i].name < hits[j].name
	})
	files := map[string]bool{}
	for _, h := range hits {
		fmt.Printf("%3d  %s  %s\n", h.calls, h.file, h.name)
		files[h.file] = true
	}
	fmt.Printf("%d functions in %d files\n", len(hits), len(files))
}

// funcsOf is every function of f with a body, closures included, as the
// range of its braces.
func funcsOf(fset *token.FileSet, f *ast.File) []fn {
	var fns []fn
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.FuncDecl:
			if x.Body != nil {
				name := x.Name.Name
				if x.Recv != nil && len(x.Recv.List) > 0 {
					t := x.Recv.List[0].Type
					if s, ok := t.(*ast.StarExpr); ok {
						t = s.X
					}
					if id, ok := t.(*ast.Ident); ok {
						name = id.Name + "." + name
					} else if ix, ok := t.(*ast.IndexExpr); ok {
						name = fmt.Sprint(ix.X) + "." + name
					}
				}
				fns = append(fns, fn{name, fset.Position(x.Body.Lbrace), fset.Position(x.Body.Rbrace)})
			}
		case *ast.FuncLit:
			fns = append(fns, fn{"func@" + strconv.Itoa(fset.Position(x.Pos()).Line), fset.Position(x.Body.Lbrace), fset.Position(x.Body.Rbrace)})
		}
		return true
	})
	return fns
}
