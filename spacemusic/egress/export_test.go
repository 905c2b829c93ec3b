package egress

import (
	"context"
	"fmt"

	"github.com/livekit/protocol/livekit"
	"github.com/twitchtv/twirp"
)

// FailStemStart makes the n-th (from 0) stem start of every later RecordStems
// call fail as LiveKit would refuse it, before the request goes out: the seam for
// testing what a partial failure leaves behind.
func FailStemStart(s *Service, n int) {
	real := s.api.StartTrackEgress
	var calls int
	s.startTrack = func(ctx context.Context, req *livekit.TrackEgressRequest) (*livekit.EgressInfo, error) {
		calls++
		if calls-1 == n {
			return nil, twirp.NewError(twirp.ResourceExhausted, fmt.Sprintf("test: start %d refused", n))
		}
		return real(ctx, req)
	}
}
