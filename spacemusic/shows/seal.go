package shows

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

// A show's spec lives in its room's metadata, which anyone holding a token
// with roomAdmin (a moderator) may rewrite: a flipped "closing" would stop the
// recording plan, a changed opener would hand the show's secrets to someone
// else. So the envelope is sealed: an HMAC-SHA256 over its JSON under a key
// derived from the LiveKit API secret, which moderators never hold. An
// envelope whose seal does not verify is reported (a Problem on the show, a
// show_tampered event) and not obeyed: Run keeps the last good spec it knew
// and otherwise starts nothing; only Close (an admin's, in the dashboard) acts
// on it.
//
// Envelopes from before sealing carry no seal and are treated as tampered, not
// accepted once and sealed: whoever may rewrite metadata may also strip a
// seal, and a replica or a restarted process could not tell "accepted once"
// from "stripped". A show open across the upgrade is reported and records
// nothing new until it is closed and opened again.

// Principal is who opened a show: a name and how it signed in (e.g. an API
// key's fingerprint and "api-key"). Room metadata reaches every participant,
// so only a keyed digest of it is stored.
type Principal struct {
	Name   string
	Method string
}

// ErrTampered: the show's metadata was changed outside this library (its seal
// does not verify, or it has none). Also ErrFailedPrecondition.
var ErrTampered = fmt.Errorf("%w: tampered", errs.ErrFailedPrecondition)

// Key derivation labels: one key per purpose, none of them the API secret.
const (
	sealLabel   = "streamkit show spec v1"
	openerLabel = "streamkit show opener v1"
)

func derive(secret, label string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(label))
	return m.Sum(nil)
}

func mac(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// openerOf is the digest of p stored with the show; empty for no principal.
func (s *Service) openerOf(p Principal) string {
	if p == (Principal{}) {
		return ""
	}
	b, _ := json.Marshal([]string{p.Method, p.Name}) // unambiguous, whatever the name holds
	return hex.EncodeToString(mac(s.openerKey, b)[:16])
}

// seal is env as room metadata, with its seal.
func (s *Service) seal(env envelope) string {
	env.Seal = ""
	b, _ := json.Marshal(env)
	env.Seal = base64.RawURLEncoding.EncodeToString(mac(s.sealKey, b))
	return encodeEnvelope(env)
}

// sealed reports whether env (as decoded) carries its own seal. What is
// checked is our encoding of what was decoded, i.e. exactly what is obeyed:
// unknown fields and spelling variants an editor adds cannot slip past it.
func (s *Service) sealed(env envelope) bool {
	got, err := base64.RawURLEncoding.DecodeString(env.Seal)
	if err != nil || env.Seal == "" {
		return false
	}
	env.Seal = ""
	b, _ := json.Marshal(env)
	return hmac.Equal(got, mac(s.sealKey, b))
}

// read decodes a room's metadata and checks its seal. A tampered envelope is
// returned with ErrTampered (Close may still act on it); the last good
// envelope of each show is kept for Run and for people.
func (s *Service) read(op, room, md string) (envelope, error) {
	env, err := decode(op, room, md)
	if err != nil {
		if _, known := s.lastGood(room); known {
			// A show this Service knew no longer reads as one: rewritten
			// into garbage, which must not stop it any more than a flag.
			return envelope{}, tamperedError(op, room, "it no longer reads as a show")
		}
		return envelope{}, err
	}
	if !s.sealed(env) {
		why := "its seal does not verify"
		if env.Seal == "" {
			why = "it carries no seal (opened before shows were sealed, or rewritten)"
		}
		return env, tamperedError(op, room, why)
	}
	s.mu.Lock()
	s.good[room] = env
	s.mu.Unlock()
	return env, nil
}

// lastGood is the last envelope of the show whose seal verified here.
func (s *Service) lastGood(room string) (envelope, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	env, ok := s.good[room]
	return env, ok
}

// tampered reports a tampered envelope once per distinct metadata: a warning
// and a show_tampered event in the Watch (every replica's timeline and stream).
func (s *Service) tampered(room, sid, md string, err error) {
	sum := sha256.Sum256([]byte(md))
	id := "tamper-" + hex.EncodeToString(sum[:8])
	s.mu.Lock()
	seen := s.reported[room] == id
	s.reported[room] = id
	s.mu.Unlock()
	if seen || !errors.Is(err, ErrTampered) {
		return
	}
	s.cfg.Logger.Warn("shows: a show's metadata was changed outside streamkit; keeping its last good spec", "show", room, "error", err.Error())
	s.tell(events.Event{Kind: events.ShowTampered, ID: id, Room: room, RoomSID: sid, At: time.Now().UTC()}, "a tamper event")
}

// IsOpener reports whether p opened the show name (Open's Spec.Opener): an
// open show's sealed metadata says so, or the report of a show this Service
// closed. A tampered show has no opener anyone can trust (false). A name that
// is no open show and has no report is ErrNotFound.
func (s *Service) IsOpener(ctx context.Context, name string, p Principal) (bool, error) {
	const op = "shows.IsOpener"
	if err := (Spec{Name: name}).checkName(op); err != nil {
		return false, err
	}
	want := s.openerOf(p)
	found, err := s.cfg.Rooms.List(ctx, name)
	if err != nil {
		return false, errs.Relabel(op, err)
	}
	if len(found) == 0 {
		s.mu.Lock()
		rep, ok := s.reports[name]
		s.mu.Unlock()
		if !ok {
			return false, errs.NotFound(op, "no show %q is open", name)
		}
		return want != "" && hmac.Equal([]byte(rep.opener), []byte(want)), nil
	}
	env, err := s.read(op, name, found[0].Metadata)
	if errors.Is(err, ErrTampered) {
		s.tampered(name, found[0].SID, found[0].Metadata, err)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return want != "" && hmac.Equal([]byte(env.Opener), []byte(want)), nil
}

// OpenedBy reports whether p opened sh (a Show that Open, Get or List gave).
func (s *Service) OpenedBy(sh Show, p Principal) bool {
	want := s.openerOf(p)
	return want != "" && hmac.Equal([]byte(sh.opener), []byte(want))
}

// readOrLastGood is the room's show as people are shown it: a tampered one is
// reported, and shown as its last good spec with the tampering as a problem
// (as it now reads when this Service never saw it good, with no opener).
func (s *Service) readOrLastGood(op string, r rooms.Room) (envelope, string, error) {
	env, err := s.read(op, r.Name, r.Metadata)
	if !errors.Is(err, ErrTampered) {
		return env, "", err
	}
	s.tampered(r.Name, r.SID, r.Metadata, err)
	if good, ok := s.lastGood(r.Name); ok {
		return good, err.Error(), nil
	}
	env.Opener = "" // nobody's show: its secrets go to admins only
	return env, err.Error(), nil
}

// remember keeps md, which this Service sealed and wrote, as the show's last
// good envelope.
func (s *Service) remember(name, md string) (envelope, bool) {
	env, err := decode("shows.Open", name, md)
	if err != nil {
		return envelope{}, false
	}
	s.mu.Lock()
	s.good[name] = env
	s.mu.Unlock()
	return env, true
}

// forget drops what was kept of a show whose room closed.
func (s *Service) forget(name string) {
	s.mu.Lock()
	delete(s.good, name)
	delete(s.reported, name)
	s.mu.Unlock()
}

func tamperedError(op, room, why string) error {
	return &errs.Error{Op: op, Kind: ErrTampered,
		Message: fmt.Sprintf("show %q's metadata was changed outside streamkit: %s; it is not obeyed", room, why),
		Hint:    "a token with roomAdmin (a moderator's) can rewrite room metadata; an admin closes the show and opens it again"}
}
