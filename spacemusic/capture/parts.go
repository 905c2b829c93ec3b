package capture

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/internal/ogg"
	"github.com/spacemusic/streamkit/spacemusic/keys"
)

// want subscribes to the source's audio.
func (s *session) want(p *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
	s.mu.Lock()
	src := s.source
	s.mu.Unlock()
	if p.Kind() == lksdk.TrackKindAudio && (src == "" || rp.Identity() == src) {
		_ = p.SetSubscribed(true)
	}
}

// subscribed starts a part on the source's audio track. While a part is
// being written the newest such track waits for it to end (a second
// performer's track is not the show's while the first plays; the same
// performer back before their old track ended is).
func (s *session) subscribed(t *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
	if t.Kind() != webrtc.RTPCodecTypeAudio {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.source != "" && rp.Identity() != s.source {
		return
	}
	if s.cur != nil {
		s.next = &waiting{t: t, who: rp.Identity()}
		return
	}
	s.startLocked(t, rp.Identity())
}

// startLocked claims the session for t's part (opened on its first packet)
// and reads it. s.mu is held.
func (s *session) startLocked(t track, who string) {
	s.cur = &part{}
	s.readers.Add(1)
	go s.read(t, who)
}

// track is what a part is read from: a subscribed *webrtc.TrackRemote.
type track interface {
	ReadRTP() (*rtp.Packet, interceptor.Attributes, error)
}

// read writes the track's packets until it ends, then finishes the part.
// Past the spool's bounds it ends the part there (uploaded as it is) and
// drops the audio until there is room, then starts a new part.
func (s *session) read(t track, who string) {
	defer s.readers.Done()
	var p *part
	var pending int64  // the page of the packet the writer holds, written with the next
	var live *listener // the show's live meter, from its first packet
	asked := false
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			break
		}
		if ogg.OpusSamples(pkt.Payload) == 0 {
			continue // not Opus: the writer would drop it
		}
		if !asked {
			live, asked = s.listener(), true
		}
		live.write(pkt.Payload)
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
	live.close() // its last page now; the meter's own ending waits for nothing of ours
	s.mu.Lock()
	s.cur = nil
	s.full = "" // no audio comes: none is held back
	keep := s.keep
	if next := s.next; next != nil {
		s.next = nil
		if !keep && (s.source == "" || next.who == s.source) {
			s.startLocked(next.t, next.who) // a track that ended meanwhile opens no part
		}
	}
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
