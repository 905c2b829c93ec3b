package recordings

import (
	"context"
	"encoding/base64"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/keys"
)

// Page sizes of ListPage.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// ListOptions say which page of which room ListPage returns.
type ListOptions struct {
	Room   string // empty: every room
	Limit  int    // recordings per page: DefaultPageSize when 0, at most MaxPageSize
	Cursor string // Page.Next of the previous page; empty for the first
}

// Page is one page of recordings, newest first.
type Page struct {
	Recordings []Recording
	Next       string // cursor of the next page; empty on the last
}

// List returns all recordings of a room (all rooms when room is empty), newest
// first. Manifests egress writes beside the media are left out; an HLS run is
// one recording.
func (s *Store) List(ctx context.Context, room string) ([]Recording, error) {
	return s.scan(ctx, "recordings.List", room)
}

// ListPage returns one page of List. The store lists by key, not by time, so
// every page costs one listing of the room's folder: a caller serving many
// pages keeps List's answer for a while and cuts each page with Paginate.
func (s *Store) ListPage(ctx context.Context, o ListOptions) (Page, error) {
	const op = "recordings.ListPage"
	if _, _, err := o.check(); err != nil {
		return Page{}, errs.Relabel(op, err)
	}
	all, err := s.scan(ctx, op, o.Room)
	if err != nil {
		return Page{}, err
	}
	return Paginate(all, o)
}

// Paginate cuts the page o names from all, a List answer (newest first): the
// recordings after o.Cursor, at most o.Limit of them. The cursor is a position,
// not an index, so it stays right when recordings were added or expired since.
func Paginate(all []Recording, o ListOptions) (Page, error) {
	limit, after, err := o.check()
	if err != nil {
		return Page{}, err
	}
	from := 0
	if after != nil {
		from = sort.Search(len(all), func(i int) bool { return newerFirst(*after, all[i]) })
	}
	rest := all[from:]
	if len(rest) <= limit {
		return Page{Recordings: rest}, nil
	}
	return Page{Recordings: rest[:limit], Next: encodeCursor(rest[limit-1])}, nil
}

// check reads o's limit (DefaultPageSize when 0) and cursor.
func (o ListOptions) check() (int, *Recording, error) {
	const op = "recordings.Paginate"
	if o.Limit < 0 || o.Limit > MaxPageSize {
		return 0, nil, errs.Invalid(op, "limit must be between 1 and %d", MaxPageSize)
	}
	limit := o.Limit
	if limit == 0 {
		limit = DefaultPageSize
	}
	if o.Cursor == "" {
		return limit, nil, nil
	}
	c, err := DecodeCursor(o.Cursor)
	if err != nil {
		return 0, nil, errs.Relabel(op, err)
	}
	return limit, &c, nil
}

// newerFirst is the listing order: newest first, then by key.
func newerFirst(a, b Recording) bool {
	if !a.LastModified.Equal(b.LastModified) {
		return a.LastModified.After(b.LastModified)
	}
	return a.Key < b.Key
}

// Cursor is the cursor of the page that follows r: a caller that cuts a page
// shorter (one listing answering several page sizes) names where it ended.
func Cursor(r Recording) string { return encodeCursor(r) }

// A cursor is the position of the last recording of a page: its time and key.
// It stays right when recordings are added or expire between pages.
func encodeCursor(r Recording) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(r.LastModified.UnixNano(), 10) + "|" + r.Key))
}

// maxCursor bounds what DecodeCursor reads: a key of 1024 bytes and a time.
const maxCursor = 1500

// DecodeCursor reads a Page.Next back; anything else is ErrInvalidArgument.
func DecodeCursor(c string) (Recording, error) {
	bad := errs.Invalid("recordings.DecodeCursor", "cursor is not one this server handed out")
	if len(c) > maxCursor {
		return Recording{}, bad
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	if err != nil {
		return Recording{}, bad
	}
	ts, key, ok := strings.Cut(string(b), "|")
	nanos, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || strconv.FormatInt(nanos, 10) != ts || keys.Check(key) != nil {
		return Recording{}, bad
	}
	return Recording{Key: key, LastModified: time.Unix(0, nanos).UTC()}, nil
}

// scan lists a room's folder (or the bucket), groups HLS runs and sorts.
func (s *Store) scan(ctx context.Context, op, room string) ([]Recording, error) {
	prefix := ""
	if room != "" {
		// Rooms are folders of the bucket: the room-name rule, and no path tricks.
		if err := keys.CheckRoom(room); err != nil {
			return nil, errs.Relabel(op, err)
		}
		prefix = room + "/"
	}
	// The whole listing is one call: its pages come under one deadline.
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var objs []Recording
	for obj := range s.mc.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, mapErr(op, obj.Err)
		}
		if strings.HasSuffix(obj.Key, ".json") {
			continue
		}
		objs = append(objs, Recording{Key: obj.Key, Room: keys.Room(obj.Key), Kind: KindFile, Size: obj.Size, LastModified: obj.LastModified.UTC()})
	}
	out := Group(objs)
	sort.Slice(out, func(i, j int) bool { return newerFirst(out[i], out[j]) })
	return out, nil
}

// Group makes every folder below a room's that holds a .m3u8 playlist one HLS
// recording: keyed by its playlist (not the rolling live.m3u8 when there is
// another), sized as the whole folder, dated by its newest object. Other objects
// stay files; a playlist in the room's own folder is a recording of its own.
// This fits both egress layouts: <room>/hls/playlist.m3u8 beside its segments,
// and one folder per run, <room>/hls/<stamp>-<id>/playlist.m3u8.
func Group(objs []Recording) []Recording {
	groups := map[string]*Recording{} // by folder, with a trailing slash
	for _, o := range objs {
		dir, name := path.Split(o.Key)
		if !strings.HasSuffix(name, ".m3u8") || strings.Count(dir, "/") < 2 {
			continue
		}
		g := groups[dir]
		if g == nil || betterPlaylist(name, path.Base(g.Key)) {
			groups[dir] = &Recording{Key: o.Key, Room: o.Room, Kind: KindHLS}
		}
	}
	var out []Recording
	for _, o := range objs {
		dir, name := path.Split(o.Key)
		g := groups[dir]
		if g == nil {
			if strings.HasSuffix(name, ".m3u8") {
				o.Kind = KindHLS
			}
			out = append(out, o)
			continue
		}
		g.Size += o.Size
		if ext := path.Ext(name); ext == ".ts" || ext == ".m4s" || ext == ".aac" {
			g.Segments++
		}
		if o.LastModified.After(g.LastModified) {
			g.LastModified = o.LastModified
		}
	}
	for _, g := range groups {
		out = append(out, *g)
	}
	return out
}

// betterPlaylist prefers the closed playlist to the rolling live one, then the
// first by name, so a folder's key does not change between listings.
func betterPlaylist(a, b string) bool {
	if (a == "live.m3u8") != (b == "live.m3u8") {
		return b == "live.m3u8"
	}
	return a < b
}
