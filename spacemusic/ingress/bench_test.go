package ingress_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/ingress"
)

// BenchmarkIngestFirstAudio measures, for RTMP (transcoded) and WHIP (passthrough),
// how long a listener waits from the moment the encoder starts pushing to the
// first audio packet. Run it as
//
//	scripts/netns go test -run '^$' -bench IngestFirstAudio -benchtime 3x ./spacemusic/ingress/
func BenchmarkIngestFirstAudio(b *testing.B) {
	s := newShow(b)
	ctx := context.Background()
	tone := testenv.Tone(b, 440, 30*time.Second)
	for _, kind := range []ingress.Kind{ingress.RTMP, ingress.WHIP} {
		b.Run(string(kind), func(b *testing.B) {
			var total time.Duration
			for i := 0; b.Loop(); i++ {
				room := fmt.Sprintf("%s-%d", kind, i)
				p := ingress.Participant{Room: room, Identity: "encoder"}
				var in ingress.Ingress
				var err error
				if kind == ingress.RTMP {
					in, err = s.ingress.RTMP(ctx, ingress.RTMPOptions{Participant: p, AudioOnly: true})
				} else {
					in, err = s.ingress.WHIP(ctx, ingress.WHIPOptions{Participant: p})
				}
				if err != nil {
					b.Fatal(err)
				}
				listener := s.listen(b, room)
				start := time.Now()
				var stop func()
				if kind == ingress.RTMP {
					stop = testenv.PushRTMP(b, in.PublishURL, 30*time.Second, true).Stop
				} else {
					stop = testenv.PublishWHIP(b, in.PublishURL, tone)
				}
				for listener.Packets() == 0 {
					if time.Since(start) > time.Minute {
						b.Fatalf("%s: no audio within a minute", kind)
					}
					time.Sleep(5 * time.Millisecond)
				}
				total += time.Since(start)
				// The next sample must not share the machine with this encoder and
				// its transcoding: stop both before it starts.
				b.StopTimer()
				stop()
				if err := s.ingress.Delete(ctx, in.ID); err != nil {
					b.Fatalf("%s: delete: %v", kind, err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-first-audio")
		})
	}
}
