// Package capture records a show's audio itself: a hidden, subscribe-only
// participant joins the stage as soon as the show is armed and writes the
// show's audio track to Ogg Opus from its first packet, into a spool file on
// local disk, and uploads it into the recordings bucket when the part ends.
//
// Why not egress: egress v1.8.6 starts a track's recording only once the track
// exists and then needs 1-2.7 s to build its pipeline, so its files missed the
// first 0.85-2.67 s of an OBS push; a participant egress started earlier refuses
// Ogg. A subscriber already in the room receives the track from its first
// packet (Ingress delays the audio, it does not drop it). See the README,
// "Shows".
//
// Each subscription of the source's audio track is one part (an OBS reconnect
// is a new one). A process that dies mid-part leaves its spool file; the next
// Recorder on the same directory continues it when the source is still live
// (Arm) or uploads it (Settle, Finish).
package capture

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"

	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/names"
	"github.com/spacemusic/streamkit/spacemusic/keys"
	"github.com/spacemusic/streamkit/spacemusic/recordings"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// Identity is the recorder's identity in a room (hidden: listeners do not see
// it). It is reserved (tokens.Reserved): services never mint it for anyone.
const Identity = tokens.RecorderIdentity

// IDPrefix starts the IDs of this package's parts (egress IDs start with EG_):
// the watched model's resync, which ends recordings LiveKit does not list,
// leaves these alone.
const IDPrefix = keys.OwnPrefix

// Object metadata the bucket keeps with each uploaded part.
const (
	metaID       = "Capture-Id"
	metaSource   = "Capture-Source"
	metaStarted  = "Capture-Started"
	metaEnded    = "Capture-Ended"
	metaDuration = "Capture-Duration-Ns"
)

// Config wires a Recorder.
type Config struct {
	URL    string // LiveKit's WebSocket URL
	Tokens *tokens.Issuer
	Store  *recordings.Store
	Dir    string       // the spool directory; created when missing
	Logger *slog.Logger // slog.Default() when nil
	// MaxBytes bounds what the spool holds (0: DefaultMaxBytes; negative:
	// no limit); MinFree is the free space its file system keeps (zero:
	// DefaultMinFree; negative Bytes: no floor). See spool.go.
	MaxBytes int64
	MinFree  Free
}

// Part is one recording: one stretch of the source's audio track.
type Part struct {
	ID        string        `json:"id"`
	Room      string        `json:"room"`
	Source    string        `json:"source,omitempty"`
	Key       string        `json:"key"`    // the object in the bucket
	Status    egress.Status `json:"status"` // active, ending (spooled, not uploaded), complete, failed
	Error     string        `json:"error,omitempty"`
	StartedAt time.Time     `json:"startedAt"`
	EndedAt   time.Time     `json:"endedAt,omitzero"`
	Duration  time.Duration `json:"duration"` // samples written / 48 kHz: exact
	Size      int64         `json:"size"`
}

// Recorder records the audio of the rooms it is armed for.
type Recorder struct {
	cfg Config

	mu       sync.Mutex
	sessions map[string]*session
	busy     map[string]bool // spool files being written or uploaded
	notify   func(Part)
	closed   bool

	// The spool's bounds (spool.go): bytes it holds, and the file system's
	// free space and size at fsAt, when it held fsUsedAt.
	used           int64
	fsAt           time.Time
	fsFree, fsSize int64
	fsUsedAt       int64
	notifySpool    func(SpoolEvent)

	rejoins  map[string]int                   // rejoins after an impostor took the identity, per room (rejoin.go)
	intruder func(room string)                // told of each impostor (rejoin.go)
	seen     seenParts                        // what uploaded parts' stats said (seen.go)
	listen   func(room string) io.WriteCloser // a live meter (listen.go)
	// The live meters' Closes, run beside the readers (listen.go); Close
	// waits for them, and once it does (quiet) later ones run on their reader.
	listenClosing sync.WaitGroup
	quiet         bool
}

// New checks cfg and creates the spool directory.
func New(cfg Config) (*Recorder, error) {
	const op = "capture.New"
	if cfg.URL == "" || cfg.Tokens == nil || cfg.Store == nil || cfg.Dir == "" {
		return nil, errs.Invalid(op, "URL, Tokens, Store and Dir are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, errs.Invalid(op, "spool directory: %v", err)
	}
	switch {
	case cfg.MaxBytes == 0:
		cfg.MaxBytes = DefaultMaxBytes
	case cfg.MaxBytes < 0:
		cfg.MaxBytes = 0 // none
	}
	switch {
	case cfg.MinFree.IsZero():
		cfg.MinFree = DefaultMinFree
	case cfg.MinFree.Bytes < 0 || cfg.MinFree.Percent < 0:
		cfg.MinFree = Free{} // none
	case cfg.MinFree.Percent >= 100:
		return nil, errs.Invalid(op, "MinFree: a percentage below 100")
	}
	return &Recorder{cfg: cfg, sessions: map[string]*session{}, busy: map[string]bool{}, rejoins: map[string]int{}, used: spoolBytes(cfg.Dir), fsFree: -1}, nil
}

// session is the recorder's presence in one room.
type session struct {
	r      *Recorder
	room   string
	source string      // identity whose audio is the show, "" the first audio track (under mu)
	lk     *lksdk.Room // set under mu once joined
	resume string      // a spool file an earlier process left, continued by the first part (under r.mu)

	mu  sync.Mutex
	cur *part
	// next is the source's track that arrived while cur was still being
	// written: a performer who drops and comes straight back is subscribed
	// anew before the old track ends, and LiveKit announces the new one once.
	next    *waiting
	keep    bool // the recorder is closing: the part stays spooled for the next process
	readers sync.WaitGroup
	// uploads are the uploads a full spool started beside the reader: Finish
	// waits for them; Close does not (a cut upload leaves its part spooled).
	uploads sync.WaitGroup
	// full says why the show's audio is held back now ("" while it is
	// written); settling while a retry of the waiting uploads runs.
	full      string
	settling  bool
	settledAt time.Time
}

// waiting is a subscribed track whose part starts when the current one ends.
type waiting struct {
	t   *webrtc.TrackRemote
	who string
}

type part struct {
	Part
	path string
	f    *os.File
	w    *oggWriter
}

// spoolDir is the room's spool folder: room names are checked as bucket
// folders (no separators, no dots), and the result must stay under Dir.
func (r *Recorder) spoolDir(op, room string) (string, error) {
	if err := names.Check("room name", room); err != nil || !names.IsFolder(room) {
		return "", errs.Invalid(op, "room name %q cannot name a folder", room)
	}
	d := filepath.Join(r.cfg.Dir, room)
	if filepath.Base(d) != room || filepath.Dir(d) != filepath.Clean(r.cfg.Dir) { // one element, right below Dir
		return "", errs.Invalid(op, "room name %q cannot name a folder", room)
	}
	return d, nil
}

// token is the recorder's join token for room. Its proof tells this recorder
// from an impostor under its identity, on a livekit-server that carries it
// (participant attributes: not v1.6.1, where the recorder joins without and
// impostors cannot be told apart).
func (r *Recorder) token(room string) (tokens.Token, error) {
	opts := []tokens.Option{tokens.WithName("recorder"), tokens.WithTTL(tokens.MaxMonitorTTL)}
	if r.cfg.Tokens.CheckOwnProof() == nil {
		opts = append(opts, r.cfg.Tokens.WithOwnProof(room, Identity))
	}
	return r.cfg.Tokens.Monitor(room, Identity, opts...)
}

// Arm joins room (once) and records source's audio track from its first packet,
// each publication a part. Arming again changes nothing but an empty source.
func (r *Recorder) Arm(ctx context.Context, room, source string) error {
	const op = "capture.Arm"
	dir, err := r.spoolDir(op, room)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return &errs.Error{Op: op, Kind: errs.ErrFailedPrecondition, Message: "the recorder is closed"}
	}
	if s := r.sessions[room]; s != nil {
		r.mu.Unlock()
		s.mu.Lock()
		if s.source == "" {
			s.source = source
		}
		s.mu.Unlock()
		return nil
	}
	s := &session{r: r, room: room, source: source}
	r.sessions[room] = s
	if left := r.spooled(dir); len(left) > 0 {
		s.resume = left[len(left)-1] // the newest: the part the dead process was writing
	}
	r.mu.Unlock()
	tok, err := r.token(room)
	if err == nil {
		cb := &lksdk.RoomCallback{ParticipantCallback: lksdk.ParticipantCallback{
			OnTrackPublished:  func(p *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) { s.want(p, rp) },
			OnTrackSubscribed: s.subscribed,
		},
			// The room closed, or LiveKit let us go: a later Arm joins anew.
			OnDisconnected: func() { r.drop(s) },
			// Someone joined under our identity and LiveKit dropped us for
			// them: join again, which drops them (rejoin.go).
			OnDisconnectedWithReason: func(why lksdk.DisconnectionReason) {
				if why == lksdk.DuplicateIdentity {
					r.rejoin(room, s.sourceNow())
				}
			},
		}
		var lk *lksdk.Room
		if lk, err = join(ctx, r.cfg.URL, tok.JWT, cb); err == nil {
			s.mu.Lock()
			s.lk = lk
			s.mu.Unlock()
			r.mu.Lock()
			gone := r.sessions[room] != s
			r.mu.Unlock()
			if gone { // Finished or closed while joining
				lk.Disconnect()
				return nil
			}
		}
	}
	if err != nil {
		r.mu.Lock()
		delete(r.sessions, room)
		r.mu.Unlock()
		msg := err.Error()
		if tok.JWT != "" { // an SDK error could quote the URL it dialled, token included
			msg = strings.ReplaceAll(msg, tok.JWT, "[token]")
		}
		return &errs.Error{Op: op, Kind: errs.ErrUnavailable, Upstream: errs.LiveKit, Message: "the recorder cannot join " + room + ": " + msg}
	}
	s.mu.Lock()
	lk := s.lk
	s.mu.Unlock()
	for _, rp := range lk.GetRemoteParticipants() {
		for _, p := range rp.TrackPublications() {
			if rt, ok := p.(*lksdk.RemoteTrackPublication); ok {
				s.want(rt, rp)
			}
		}
	}
	return nil
}

// JoinTimeout bounds joining a room: the SDK's connect takes no context, and a
// hung LiveKit must not hold Run.
const JoinTimeout = 15 * time.Second

// join connects within JoinTimeout (or ctx); a connect that completes after we
// gave up is disconnected at once.
func join(ctx context.Context, url, jwt string, cb *lksdk.RoomCallback) (*lksdk.Room, error) {
	type joined struct {
		room *lksdk.Room
		err  error
	}
	ch := make(chan joined, 1)
	go func() {
		rm, err := lksdk.ConnectToRoomWithToken(url, jwt, cb, lksdk.WithAutoSubscribe(false))
		ch <- joined{rm, err}
	}()
	t := time.NewTimer(JoinTimeout)
	defer t.Stop()
	select {
	case j := <-ch:
		return j.room, j.err
	case <-t.C:
	case <-ctx.Done():
	}
	go func() {
		if j := <-ch; j.room != nil {
			j.room.Disconnect()
		}
	}()
	return nil, errors.New("joining timed out")
}

// drop forgets s, unless another session took its place.
func (r *Recorder) drop(s *session) {
	r.mu.Lock()
	if r.sessions[s.room] == s {
		delete(r.sessions, s.room)
	}
	r.mu.Unlock()
}

// Armed reports whether the recorder is in room.
func (r *Recorder) Armed(room string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions[room] != nil
}

// Close leaves every room and waits for the track readers and the live
// meters' Closes. Parts being written stay spooled, as when the process dies:
// a Recorder on the same directory continues them (a redeploy mid-show keeps
// one part, without the audio of the time no process recorded) or uploads
// them (Settle, Finish).
func (r *Recorder) Close() {
	r.mu.Lock()
	r.closed = true
	ss := r.sessions
	r.sessions = map[string]*session{}
	r.mu.Unlock()
	for _, s := range ss {
		s.mu.Lock()
		s.keep = true
		s.mu.Unlock()
		s.leave()
		s.readers.Wait()
	}
	r.mu.Lock()
	r.quiet = true // no Add may race the Wait
	r.mu.Unlock()
	r.listenClosing.Wait()
}
