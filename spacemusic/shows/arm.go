package shows

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/egress"
	"github.com/spacemusic/streamkit/spacemusic/errs"
	"github.com/spacemusic/streamkit/spacemusic/events"
)

// arm starts what the plan wants and is not running.
//
// An ingest's recording starts on its audio track, not at its participant's join:
// egress v1.8.6's participant egress cannot be audio-only (Ogg is refused) and,
// started before a track, waits 3 s before building its pipeline, so it began no
// earlier on the real stack (README, "Shows").
func (c *controller) arm(ctx context.Context, name string, a *armed, who []string, snap *events.Snapshot, seen time.Time) error {
	sp := a.env.Spec.spec(name)
	src := who[0]
	if sp.Ingest.Kind != NoIngest {
		src = sp.ingestIdentity()
		if !slices.Contains(who, src) {
			return nil // a performer warming up before the ingest: the show is its ingest
		}
	}
	dests := c.shows.destinations(name)
	todo := c.todo(name, a, sp, src, dests, snap)
	if len(todo) == 0 {
		return nil
	}
	if open, err := c.stillOpen(ctx, name, a); !open {
		return err
	}
	var failed error
	for _, k := range todo {
		if t := a.tried[k]; !t.IsZero() && c.now().Sub(t) < retryAfter {
			c.queue.AddAfter(name, t.Add(retryAfter).Sub(c.now()))
			continue
		}
		a.tried[k] = c.now()
		started, err := c.start(ctx, name, a, k, src, dests, snap)
		if err != nil {
			c.log.Warn("shows: starting a part failed; trying again", "show", name, "part", k, "error", err.Error())
			failed = errors.Join(failed, err)
			continue
		}
		for _, e := range started {
			key := k
			if k == RecordStems {
				key = "stem/" + e.ID
			}
			a.running[key] = e.ID
			c.shows.started(Started{Show: name, Kind: k, ID: e.ID, After: time.Since(seen)})
		}
	}
	return failed
}

// todo is what the plan wants from src now and is not running.
func (c *controller) todo(name string, a *armed, sp Spec, src string, dests []string, snap *events.Snapshot) []string {
	wants := slices.Clone(sp.Record)
	if len(sp.Restream) > 0 {
		if len(dests) > 0 {
			wants = append(wants, "restream")
		} else if !a.warned {
			a.warned = true
			c.log.Warn("shows: the show restreams but this process does not know where; Open its spec again", "show", name)
		}
	}
	var todo []string
	for _, k := range wants {
		switch {
		case k == RecordAudio && c.capturing(a):
			// the show's own recorder has it from the first note
		case k == RecordStems:
			if audioTracks(snap, name) != a.stems {
				todo = append(todo, k)
			}
		case a.running[k] == "" && (k != RecordVideo || sendsVideo(snap, name, src)):
			// Video waits for the source's video track, which may be published a
			// moment after its audio: started earlier it would only be refused.
			todo = append(todo, k)
		}
	}
	return todo
}

// start starts one part of the plan from src.
func (c *controller) start(ctx context.Context, name string, a *armed, k, src string, dests []string, snap *events.Snapshot) ([]egress.Egress, error) {
	one := func(e egress.Egress, err error) ([]egress.Egress, error) { return []egress.Egress{e}, err }
	switch k {
	case RecordAudio:
		return one(c.egress.RecordAudio(ctx, name, egress.AudioOptions{Identity: src}))
	case RecordVideo:
		return one(c.egress.RecordVideo(ctx, name, egress.VideoOptions{Identity: src}))
	case RecordHLS:
		return one(c.egress.HLS(ctx, name, src))
	case "restream":
		return one(c.egress.Restream(ctx, name, src, dests...))
	case RecordStems:
		tracks := audioTracks(snap, name)
		started, err := c.egress.RecordStems(ctx, name)
		if err == nil {
			a.stems = tracks
		}
		return started, err
	}
	return nil, nil
}

// stopParts stops the running parts when the music stopped: each part is then
// one stretch of music, and a new one begins when it comes back.
func (c *controller) stopParts(ctx context.Context, name string, a *armed) {
	for k, id := range a.running {
		_, err := c.egress.Stop(ctx, id)
		if err != nil && !errors.Is(err, errs.ErrFailedPrecondition) && !errors.Is(err, errs.ErrNotFound) {
			c.log.Warn("shows: stopping a part failed", "show", name, "part", k, "error", err.Error())
			continue
		}
		delete(a.running, k)
	}
	a.stems = ""
}

// sendsVideo reports whether identity publishes a video track on the stage.
func sendsVideo(snap *events.Snapshot, name, identity string) bool {
	r := snap.Rooms[name]
	if r == nil {
		return false
	}
	for _, p := range r.Participants {
		if p.Identity == identity && slices.ContainsFunc(p.Tracks, func(t events.Track) bool { return t.Kind == "video" }) {
			return true
		}
	}
	return false
}

// audioTracks names the audio tracks performers and the ingest publish.
func audioTracks(snap *events.Snapshot, name string) string {
	r := snap.Rooms[name]
	if r == nil {
		return ""
	}
	var sids []string
	for _, p := range r.Participants {
		if p.Role != events.Performer && p.Role != events.Ingest {
			continue
		}
		for _, t := range p.Tracks {
			if t.Kind == "audio" {
				sids = append(sids, t.SID)
			}
		}
	}
	slices.Sort(sids)
	return strings.Join(sids, ",")
}

// capturing reports whether the show's audio is the recorder's.
func (c *controller) capturing(a *armed) bool {
	return c.rec != nil && slices.Contains(a.env.Spec.spec("").Record, RecordAudio)
}

// armCapture has the recorder in the room from the moment the show is armed,
// so it holds the source's audio from its first packet; when the music is off
// it uploads what a dead process left spooled.
func (c *controller) armCapture(ctx context.Context, name string, a *armed, live bool, seen time.Time) error {
	sp := a.env.Spec.spec(name)
	src := ""
	if sp.Ingest.Kind != NoIngest {
		src = sp.ingestIdentity()
	}
	if live && (!a.wasLive || !a.quiet.IsZero()) {
		c.shows.wentLive(name, seen)
	}
	if !c.rec.Armed(name) {
		if open, err := c.stillOpen(ctx, name, a); !open {
			return err
		}
	}
	if err := c.rec.Arm(ctx, name, src); err != nil {
		c.log.Warn("shows: the recorder cannot join; trying again", "show", name, "error", err.Error())
		return err
	}
	if !live {
		if err := c.rec.Settle(ctx, name); err != nil {
			c.log.Warn("shows: uploading a spooled part failed; trying again", "show", name, "error", err.Error())
			return err
		}
	}
	return nil
}
