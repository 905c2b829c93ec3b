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
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"

	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/internal/names"
	"github.com/spacemusic/streamkit/spacemusic/internal/ogg"
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
	wg       sync.WaitGroup
	closed   bool

	// The spool's bounds (spool.go): bytes it holds, and the file system's
	// free space and size at fsAt, when it held fsUsedAt.
	used           int64
	fsAt           time.Time
	fsFree, fsSize int64
	fsUsedAt       int64
	notifySpool    func(SpoolEvent)

	rejoins  map[string]int    // rejoins after an impostor took the identity, per room (rejoin.go)
	intruder func(room string) // told of each impostor (rejoin.go)
	seen     seenParts         // what uploaded parts' stats said (seen.go)
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

	mu      sync.Mutex
	cur     *part
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
	// The proof tells this recorder from an impostor under its identity.
	tok, err := r.cfg.Tokens.Monitor(room, Identity, tokens.WithName("recorder"), tokens.WithTTL(tokens.MaxMonitorTTL),
		r.cfg.Tokens.WithOwnProof(room, Identity))
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

// want subscribes to the source's audio.
func (s *session) want(p *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
	s.mu.Lock()
	src := s.source
	s.mu.Unlock()
	if p.Kind() == lksdk.TrackKindAudio && (src == "" || rp.Identity() == src) {
		_ = p.SetSubscribed(true)
	}
}

// subscribed starts a part on the source's audio track, unless one is being
// written (a second performer's track is not the show's).
func (s *session) subscribed(t *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
	if t.Kind() != webrtc.RTPCodecTypeAudio {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil || (s.source != "" && rp.Identity() != s.source) {
		return
	}
	s.cur = &part{} // claimed; opened on the first packet
	s.readers.Add(1)
	go s.read(t, rp.Identity())
}

// read writes the track's packets until it ends, then finishes the part.
// Past the spool's bounds it ends the part there (uploaded as it is) and
// drops the audio until there is room, then starts a new part.
func (s *session) read(t *webrtc.TrackRemote, who string) {
	defer s.readers.Done()
	var p *part
	var pending int64 // the page of the packet the writer holds, written with the next
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			break
		}
		if ogg.OpusSamples(pkt.Payload) == 0 {
			continue // not Opus: the writer would drop it
		}
		need := pending + pageSize(pkt.Payload)
		if p == nil {
			need += partReserve
		}
		if ok, why := s.r.admit(need); !ok {
			if p != nil {
				s.end(p, false, true)
				p, pending = nil, 0
			}
			s.hold(why)
			s.retryUploads()
			continue
		}
		if p == nil {
			s.hold("")
			if p, err = s.open(who); err != nil {
				s.r.cfg.Logger.Warn("capture: cannot spool the show's audio", "room", s.room, "error", err.Error())
				break
			}
		}
		if _, err := p.w.write(pkt.Payload); err != nil {
			s.r.cfg.Logger.Warn("capture: writing the spool file failed", "room", s.room, "error", err.Error())
			break
		}
		pending = pageSize(pkt.Payload)
	}
	s.mu.Lock()
	s.cur = nil
	s.full = "" // no audio comes: none is held back
	keep := s.keep
	s.mu.Unlock()
	if p != nil {
		s.end(p, keep, false)
	}
}

// end finishes a part: closed and uploaded, or (keep) left for the next
// process. mid: the track goes on (the spool is full), so the upload runs
// beside the reader and the session stays claimed.
func (s *session) end(p *part, keep, mid bool) {
	var err error
	if keep {
		// A redeploy: the next process continues this part where it ends.
		err = p.w.flush()
	} else {
		err = p.w.close()
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.r.cfg.Logger.Warn("capture: closing the spool file failed", "room", s.room, "error", err.Error())
	}
	if keep {
		s.r.mu.Lock()
		delete(s.r.busy, p.path)
		s.r.mu.Unlock()
		s.r.cfg.Logger.Info("capture: part left spooled for the next process", "room", s.room, "id", p.ID)
		return
	}
	// Uploading is the end of the part: it must not be cut by the caller going
	// away, but it is bounded.
	upload := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		_ = s.r.upload(ctx, p.path, time.Now())
	}
	if !mid {
		upload()
		return
	}
	s.setCur(&part{}) // still claimed: the source's track goes on
	s.uploads.Add(1)
	go func() {
		defer s.uploads.Done()
		upload()
	}()
}

// open starts a part's spool file on its first packet: the one a dead process
// left, when there is one, or a new one.
func (s *session) open(who string) (*part, error) {
	dir, err := s.r.spoolDir("capture.Arm", s.room)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s.r.mu.Lock()
	resume := s.resume
	s.resume = ""
	if resume != "" && s.r.busy[resume] {
		resume = ""
	}
	if resume != "" {
		s.r.busy[resume] = true
	}
	s.r.mu.Unlock()
	if resume != "" {
		if p, err := s.r.reopen(resume); err == nil {
			s.setCur(p)
			s.r.tell(p.Part)
			s.r.cfg.Logger.Info("capture: part resumed", "room", s.room, "id", p.ID, "after", p.Duration)
			return p, nil
		} else {
			s.r.cfg.Logger.Warn("capture: cannot continue a spooled part; it is uploaded as it is", "room", s.room, "error", err.Error())
			s.r.mu.Lock()
			delete(s.r.busy, resume)
			s.r.mu.Unlock()
		}
	}
	// A part is named as egress names its audio, so the archive lists both alike.
	now := time.Now().UTC()
	name := keys.Name{Room: s.room, At: now, ID: keys.NewID()}
	key := name.File("", ".ogg")
	p := &part{Part: Part{ID: IDPrefix + name.ID, Room: s.room, Source: who, Key: key, Status: egress.Active, StartedAt: now},
		path: filepath.Join(dir, path.Base(key))}
	side, err := json.Marshal(p.Part)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(p.path+".json", side, 0o600); err != nil {
		return nil, err
	}
	s.r.grew(int64(len(side)))
	if p.f, err = os.OpenFile(p.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err != nil {
		return nil, err
	}
	var serial [4]byte
	_, _ = rand.Read(serial[:])
	if p.w, err = newOggWriter(countingWriter{p.f, s.r}, binary.LittleEndian.Uint32(serial[:]), 2); err != nil {
		p.f.Close()
		return nil, err
	}
	s.r.mu.Lock()
	s.r.busy[p.path] = true
	s.r.mu.Unlock()
	s.setCur(p)
	s.r.tell(p.Part)
	return p, nil
}

func (s *session) setCur(p *part) {
	s.mu.Lock()
	s.cur = p
	s.mu.Unlock()
}

// reopen continues a spool file after its last whole page.
func (r *Recorder) reopen(path string) (*part, error) {
	p, err := r.sidecar(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	end, serial, seq, granule, err := lastPage(f)
	if err == nil {
		if st, serr := f.Stat(); serr == nil && st.Size() > end {
			r.shrank(st.Size() - end) // a torn page
		}
		err = f.Truncate(end)
	}
	if err == nil {
		_, err = f.Seek(end, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	p.Status, p.Duration = egress.Active, time.Duration(granule)*time.Second/rate
	return &part{Part: p, path: path, f: f, w: resumeOgg(countingWriter{f, r}, serial, seq, granule)}, nil
}

// sidecar reads what a part's spool file is.
func (r *Recorder) sidecar(path string) (Part, error) {
	b, err := os.ReadFile(path + ".json")
	if err != nil {
		return Part{}, err
	}
	var p Part
	if err := json.Unmarshal(b, &p); err != nil {
		return Part{}, err
	}
	if !strings.HasPrefix(p.ID, IDPrefix) || keys.Check(p.Key) != nil {
		return Part{}, errors.New("the spool file's sidecar is not the recorder's")
	}
	return p, nil
}

// spooled lists a room's spool files, oldest first (their names start with
// the UTC stamp).
func (r *Recorder) spooled(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); e.Type().IsRegular() && strings.HasSuffix(n, ".ogg") {
			out = append(out, filepath.Join(dir, n))
		}
	}
	slices.Sort(out)
	return out
}

// upload puts a finished spool file into the bucket with its exact duration
// and removes it. A failed upload leaves it for Settle or Finish.
func (r *Recorder) upload(ctx context.Context, path string, ended time.Time) error {
	defer func() {
		r.mu.Lock()
		delete(r.busy, path)
		r.mu.Unlock()
	}()
	p, err := r.sidecar(path)
	if err != nil {
		// Not ours, or cut before its sidecar was written: set aside once
		// (kept for a person to look at), not retried for ever.
		r.cfg.Logger.Warn("capture: a spool file without a readable sidecar is set aside", "file", filepath.Base(path), "error", err.Error())
		return os.Rename(path, path+".unreadable")
	}
	fail := func(err error) error {
		r.cfg.Logger.Warn("capture: uploading a part failed; it stays spooled", "room", p.Room, "id", p.ID, "error", err.Error())
		p.Status, p.Error = egress.Failed, err.Error()
		r.tell(p)
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	end, _, _, granule, err := lastPage(f)
	if err != nil || granule == 0 { // no audio: the process died as the part began
		r.cfg.Logger.Warn("capture: a spool file without audio is dropped", "room", p.Room, "id", p.ID)
		r.removeSpooled(path)
		r.removeSpooled(path + ".json")
		return nil
	}
	p.Duration, p.Size, p.EndedAt = time.Duration(granule)*time.Second/rate, end, ended.UTC()
	meta := map[string]string{metaID: p.ID, metaSource: p.Source, metaStarted: p.StartedAt.Format(time.RFC3339Nano),
		metaEnded: p.EndedAt.Format(time.RFC3339Nano), metaDuration: strconv.FormatInt(int64(p.Duration), 10)}
	if err := r.cfg.Store.Put(ctx, p.Key, io.NewSectionReader(f, 0, end), end, meta); err != nil {
		// A process that died between uploading and removing its spool file
		// left this part in the bucket already: that is done. Anything else
		// under its key stays as it is, and the part stays spooled.
		if !errors.Is(err, errs.ErrAlreadyExists) || !r.uploaded(ctx, p, end) {
			return fail(err)
		}
	}
	r.removeSpooled(path)
	r.removeSpooled(path + ".json")
	p.Status = egress.Complete
	r.cfg.Logger.Info("capture: part uploaded", "room", p.Room, "id", p.ID, "key", p.Key, "duration", p.Duration)
	r.tell(p)
	return nil
}

// uploaded reports whether the bucket holds this very part: same recorder ID
// and size.
func (r *Recorder) uploaded(ctx context.Context, p Part, size int64) bool {
	rec, meta, err := r.cfg.Store.Stat(ctx, p.Key)
	return err == nil && rec.Size == size && meta[metaID] == p.ID
}

// Notify has f told when a part starts and when it has ended (uploaded, or
// failed). f must not block.
func (r *Recorder) Notify(f func(Part)) {
	r.mu.Lock()
	r.notify = f
	r.mu.Unlock()
}

func (r *Recorder) tell(p Part) {
	r.mu.Lock()
	f := r.notify
	r.mu.Unlock()
	if f != nil {
		f(p)
	}
}

// Settle uploads the room's spool files nobody writes: parts a dead process
// left, once their source is no longer live.
func (r *Recorder) Settle(ctx context.Context, room string) error {
	dir, err := r.spoolDir("capture.Settle", room)
	if err != nil {
		return err
	}
	var first error
	for _, path := range r.spooled(dir) {
		r.mu.Lock()
		if r.busy[path] {
			r.mu.Unlock()
			continue
		}
		r.busy[path] = true
		if s := r.sessions[room]; s != nil && s.resume == path {
			s.resume = ""
		}
		r.mu.Unlock()
		ended := time.Now()
		if st, err := os.Stat(path); err == nil {
			ended = st.ModTime()
		}
		if err := r.upload(ctx, path, ended); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Finish leaves the room, ends the part being written and uploads every part
// of the room; it returns once they are in the bucket (or one failed).
func (r *Recorder) Finish(ctx context.Context, room string) error {
	const op = "capture.Finish"
	if _, err := r.spoolDir(op, room); err != nil {
		return err
	}
	r.mu.Lock()
	s := r.sessions[room]
	delete(r.sessions, room)
	delete(r.rejoins, room)
	r.mu.Unlock()
	if s != nil {
		s.leave()
		done := make(chan struct{})
		go func() { s.readers.Wait(); s.uploads.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return errs.Transport(op, errs.LiveKit, ctx.Err())
		}
	}
	if err := r.Settle(ctx, room); err != nil {
		return &errs.Error{Op: op, Kind: errs.ErrUnavailable, Upstream: errs.Storage, Message: "a part of the show's audio is not uploaded: " + err.Error(),
			Hint: "it stays spooled on this machine; Close again to retry", Cause: err}
	}
	return nil
}

// leave disconnects: the track reader then ends and finishes its part.
func (s *session) leave() {
	s.mu.Lock()
	lk := s.lk
	s.mu.Unlock()
	if lk != nil {
		lk.Disconnect()
	}
}

// Active is the room's parts not yet in the bucket: the one being written and
// spooled ones, oldest first.
func (r *Recorder) Active(room string) []Part {
	dir, err := r.spoolDir("capture.Active", room)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	s := r.sessions[room]
	r.mu.Unlock()
	var cur *part
	if s != nil {
		s.mu.Lock()
		cur = s.cur
		s.mu.Unlock()
	}
	var out []Part
	for _, path := range r.spooled(dir) {
		p, err := r.sidecar(path)
		if err != nil {
			continue
		}
		p.Status = egress.Ending
		if cur != nil && cur.path == path {
			p.Status = egress.Active
		}
		out = append(out, p)
	}
	return out
}

// Uploaded is the room's parts in the bucket, from their objects' metadata.
func (r *Recorder) Uploaded(ctx context.Context, room string) ([]Part, error) {
	const op = "capture.Uploaded"
	if _, err := r.spoolDir(op, room); err != nil {
		return nil, err
	}
	list, err := r.cfg.Store.List(ctx, room)
	if err != nil {
		return nil, errs.Relabel(op, err)
	}
	var out []Part
	for _, o := range list {
		if o.Kind != recordings.KindFile || !strings.HasSuffix(o.Key, ".ogg") || strings.Count(o.Key, "/") != 1 {
			continue
		}
		k := seenKey{o.Key, o.Size, o.LastModified}
		sp, ok := r.seen.get(k)
		if !ok {
			_, meta, err := r.cfg.Store.Stat(ctx, o.Key)
			if err != nil {
				return nil, errs.Relabel(op, err)
			}
			sp.ours = strings.HasPrefix(meta[metaID], IDPrefix)
			if sp.ours {
				p := Part{ID: meta[metaID], Room: room, Source: meta[metaSource], Key: o.Key, Status: egress.Complete, Size: o.Size}
				p.StartedAt, _ = time.Parse(time.RFC3339Nano, meta[metaStarted])
				p.EndedAt, _ = time.Parse(time.RFC3339Nano, meta[metaEnded])
				ns, _ := strconv.ParseInt(meta[metaDuration], 10, 64)
				p.Duration = time.Duration(ns)
				sp.part = p
			}
			r.seen.put(k, sp)
		}
		if !sp.ours {
			continue // egress's
		}
		out = append(out, sp.part)
	}
	slices.SortFunc(out, func(a, b Part) int { return a.StartedAt.Compare(b.StartedAt) })
	return out, nil
}

// Close leaves every room and waits for the track readers. Parts being
// written stay spooled, as when the process dies: a Recorder on the same
// directory continues them (a redeploy mid-show keeps one part, without the
// audio of the time no process recorded) or uploads them (Settle, Finish).
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
}
