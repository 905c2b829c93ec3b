package shows_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/events"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

// Open a show, let it record itself when OBS goes live, and close it with its
// report. (Not run: it needs a LiveKit with Ingress, Egress and a bucket.)
func Example() {
	ctx := context.Background()
	sm, err := spacemusic.New(spacemusic.ConfigFromEnv())
	if err != nil {
		log.Fatal(err)
	}
	cfg := sm.Config()
	lister, err := events.NewLister(events.Config{URL: cfg.URL, APIKey: cfg.APIKey, APISecret: cfg.APISecret})
	if err != nil {
		log.Fatal(err)
	}
	watch := events.NewWatch(lister, events.Options{}) // and LiveKit's webhooks into events.NewReceiver
	go watch.Run(ctx)
	svc, err := sm.Shows(watch) // or shows.New with the services it drives
	if err != nil {
		log.Fatal(err)
	}
	go svc.Run(ctx) // armed recording: starts the plan when the music starts

	show, err := svc.Open(ctx, shows.Spec{
		Name:       "friday-jam",
		Performers: []shows.Performer{{Identity: "ada", Name: "Ada"}, {Identity: "obs-main", Name: "Main mix", Via: shows.OBS}},
		Ingest:     shows.Ingest{Kind: shows.RTMP},
		Record:     []string{shows.RecordAudio, shows.RecordStems},
		EndAfter:   10 * time.Minute, // closes itself 10 minutes after the music stopped
	})
	if err != nil {
		log.Fatal(err) // the same spec again returns the same show
	}
	fmt.Println(show.Ingest.ServerURL, show.Ingest.StreamKey) // OBS: Settings → Stream
	fmt.Println(show.Performers[0].URL, show.Performers[0].Token.JWT)

	report, err := svc.Close(ctx, "friday-jam")
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range report.Parts {
		for _, f := range p.Files {
			fmt.Println(p.Kind, f.Duration, f.URL)
		}
	}
}
